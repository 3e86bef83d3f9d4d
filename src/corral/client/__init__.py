"""The Python SDK: a typed client over corral's REST API.

    from corral.client import Client
    c = Client()                      # the local controller's Unix socket
    job_id = c.submit(name="hi", argv=["echo", "hi"])
    job = c.wait(job_id)              # a Job (corral.client.types): typed attributes
    print(job.state, job.exit_code)   # ... and still the JSON dict: job["state"]

    # a remote controller: the token of `corral login` (or CORRAL_CLIENT_ID and
    # CORRAL_CLIENT_SECRET for a service account) is sent with every request
    remote = Client("https://cluster.example.org:6817")

    # many at once: one request per 1000, each checked as a single submit
    for r in c.submit_batch([{"name": f"t{i}", "working_dir": "/tmp", "argv": ["true"]}
                             for i in range(5000)]):
        print(r.index, r.id if r.ok else r.message)
"""

from corral.client.api import Client, default_url
from corral.client.types import (
    Account,
    ArrayUpdated,
    Association,
    Associations,
    AuditEntry,
    Estimate,
    Event,
    Explanation,
    Job,
    JobSpec,
    Node,
    Partition,
    Qos,
    Record,
    Reservation,
    Share,
    StateChange,
    Status,
    Step,
    User,
    WhoAmI,
)

__all__ = ["Account", "ArrayUpdated", "Association", "Associations", "AuditEntry", "Client",
           "Estimate", "Event", "Explanation", "Job", "JobSpec", "Node", "Partition", "Qos",
           "Record", "Reservation", "Share", "StateChange", "Status", "Step", "User", "WhoAmI",
           "default_url"]
