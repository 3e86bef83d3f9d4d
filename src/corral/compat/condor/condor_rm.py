"""condor_rm: see corral.compat.condor.control."""

from corral.compat.condor.control import rm_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
