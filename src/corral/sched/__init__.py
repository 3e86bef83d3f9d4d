"""corral.sched."""
