"""qrls: see corral.compat.sge.control."""

from corral.compat.sge.control import qrls_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
