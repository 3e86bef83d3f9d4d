"""corral.api."""
