"""condor_history: see corral.compat.condor.query."""

from corral.compat.condor.query import history_main as main

__all__ = ["main"]

if __name__ == "__main__":
    main()
