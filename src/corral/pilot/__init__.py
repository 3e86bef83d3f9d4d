"""The pilot factory (`corral pilot`, docs/pilots.md): corral agents sent as ordinary
jobs into the sites' batch systems, as many as the jobs waiting for each site need."""
