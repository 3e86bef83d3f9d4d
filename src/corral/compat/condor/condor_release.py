"""condor_release: see corral.compat.condor.control."""

from corral.compat.condor.control import release_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
