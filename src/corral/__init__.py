"""corral: a workload management system."""

__version__ = "0.1.0"
