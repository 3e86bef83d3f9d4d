"""The IVOA UWS 1.1 job list over corral's own jobs (docs/uws.md): the site's template
that turns a UWS job's parameters into a corral job (template.py), and the UWS jobs'
life — created, run, aborted, destroyed — over the controller's commands (jobs.py).
The HTTP binding and the XML are api/uws/'s."""
