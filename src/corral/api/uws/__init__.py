"""The IVOA UWS 1.1 REST binding (docs/uws.md): routes.py serves the job list under
the configured path, phases.py maps corral's job states to UWS phases, xml.py writes
the documents of the UWS schema, form.py reads the clients' parameters."""
