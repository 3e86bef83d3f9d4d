"""corral.store."""
