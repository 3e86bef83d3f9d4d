"""bkill: see corral.compat.lsf.control."""

from corral.compat.lsf.control import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
