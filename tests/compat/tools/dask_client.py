"""Run by tests/compat/test_dask_jobqueue.py with the drop-in commands on PATH:
a dask-jobqueue cluster (SLURMCluster, SGECluster or LSFCluster) scales to one worker, computes,
scales back to zero and closes; prints what it saw as one JSON line."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dask.distributed import Client
from dask_jobqueue import LSFCluster, SGECluster, SLURMCluster


def double(x: int) -> int:
    return 2 * x


def main(kind: str) -> None:
    out: dict[str, Any] = {}
    cls = {"slurm": SLURMCluster, "sge": SGECluster, "lsf": LSFCluster}[kind]
    # LSF's run limits are [hour:]minute
    walltime = "00:10" if kind == "lsf" else "00:10:00"
    # all traffic on loopback: the scheduler listens on 127.0.0.1, workers use lo
    with cls(cores=1, memory="1GB", processes=1, walltime=walltime, interface="lo",
             scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
             log_directory=f"dask-logs-{kind}", death_timeout=30) as cluster:
        out["script"] = cluster.job_script()
        cluster.scale(1)
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=60)
            out["job_ids"] = [job.job_id for job in cluster.workers.values()]
            out["result"] = client.submit(double, 21).result(timeout=60)
            cluster.scale(0)
            deadline = time.monotonic() + 60
            while cluster.workers or client.scheduler_info()["workers"]:
                if time.monotonic() > deadline:
                    out["stuck"] = list(cluster.workers)
                    break
                time.sleep(0.2)
            out["workers_after_scale_down"] = len(client.scheduler_info()["workers"])
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
