"""bqueues: see corral.compat.lsf.hosts."""

from corral.compat.lsf.hosts import bqueues_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
