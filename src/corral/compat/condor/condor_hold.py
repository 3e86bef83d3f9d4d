"""condor_hold: see corral.compat.condor.control."""

from corral.compat.condor.control import hold_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
