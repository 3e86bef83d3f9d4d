"""qhold: see corral.compat.sge.control."""

from corral.compat.sge.control import qhold_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
