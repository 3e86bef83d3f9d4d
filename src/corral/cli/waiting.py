"""`corral submit --wait`: follow jobs to their end, however long they run.

The wait is a series of short long-polls, so no single request outlives the
client's timeout; a controller that goes away (a restart) is asked again with a
bounded backoff; on a terminal each change of state is shown as it happens.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from corral.client import Client
from corral.model.errors import Unavailable
from corral.model.states import FINAL_JOB_STATES

POLL_S = 10.0  # one long-poll of the controller
PROGRESS_POLL_S = 1.0  # when changes are shown: they show within this
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)  # between attempts while it does not answer
UNREACHABLE_S = 600.0  # give up when it has not answered for this long


def _when(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "unknown"


def describe(job: dict[str, Any]) -> str:
    """One progress line: the state and what is known of the start."""
    state = job["state"]
    head = f"job {job.get('display_id', job['id'])}: {state}"
    if state in ("PENDING", "HELD"):
        reason = job.get("reason")
        text = f"{head} ({reason})" if reason and reason != "None" else head
        start = job.get("t_expected_start")
        return text + (f", expected to start at {_when(start)}" if start else "")
    if state in ("RUNNING", "SUSPENDED", "COMPLETING"):
        nodes = ",".join(job.get("node_list") or [])
        return head + (f" on {nodes}" if nodes else "")
    return head


def _key(job: dict[str, Any]) -> tuple[Any, ...]:
    start = job.get("t_expected_start")
    return (job["state"], job.get("reason"), round(start) if start else None,
            tuple(job.get("node_list") or ()))


def wait_one(client: Client, job_id: int, say: Callable[[str], None] | None = None,
             *, unreachable_s: float = UNREACHABLE_S) -> dict[str, Any]:
    """The job once it has ended; `say` (if given) hears every change."""
    last: tuple[Any, ...] | None = None
    lost_since: float | None = None
    attempt = 0
    while True:
        try:
            job = client.wait(job_id, timeout_s=PROGRESS_POLL_S if say else POLL_S)
        except Unavailable as e:
            client.close()  # the next attempt opens a fresh connection
            now = time.monotonic()
            if lost_since is None:
                lost_since = now
                if say:
                    say(f"job {job_id}: {e}; asking again")
            if now - lost_since > unreachable_s:
                raise Unavailable(f"{e} (gave up after {unreachable_s:.0f} s; "
                                  f"job {job_id} may still be running)") from None
            time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1
            continue
        if lost_since is not None and say:
            say(f"job {job_id}: the controller answers again")
        lost_since, attempt = None, 0
        key = _key(job)
        if say and key != last:
            say(describe(job))
        last = key
        if job["state"] in FINAL_JOB_STATES:
            return job


def wait_all(client: Client, ids: list[int]) -> list[dict[str, Any]]:
    """Every job once ended; progress on stderr when it is a terminal."""
    say = (lambda line: click.echo(line, err=True)) if sys.stderr.isatty() else None
    return [wait_one(client, job_id, say) for job_id in ids]
