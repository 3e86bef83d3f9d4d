"""The Python SDK: a typed client over corral's REST API.

    from corral.client import Client
    c = Client()                      # the local controller's Unix socket
    job_id = c.submit(name="hi", argv=["echo", "hi"])
    print(c.wait(job_id)["state"])
"""

from corral.client.api import Client, default_url

__all__ = ["Client", "default_url"]
