"""qdel: see corral.compat.sge.control."""

from corral.compat.sge.control import qdel_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
