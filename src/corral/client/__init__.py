"""corral.client."""
