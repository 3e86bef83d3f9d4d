"""What the gLite WMS commands share: job identifiers, the L&B view of a job (its
events and states with gLite's names), the banners, the id files.

A job identifier is `https://HOST:9000/ID`, HOST the controller's (this host for a
local socket), ID corral's job id; the commands also take a bare ID.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from corral.client.api import default_url
from corral.compat.frontend import fail

LB_PORT = 9000
RULE = "=" * 74
_ID = re.compile(r"^(?:https://[^/\s]+/)?(\d{1,10})$")
_ENDED = {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED"}


def lb_host() -> str:
    url = default_url()
    if url.startswith(("http://", "https://")):
        return urlparse(url).hostname or socket.gethostname()
    return socket.gethostname()


def job_uri(job_id: int, host: str | None = None) -> str:
    return f"https://{host or lb_host()}:{LB_PORT}/{job_id}"


def parse_job_id(text: str) -> int:
    m = _ID.match(text.strip())
    if not m or int(m.group(1)) < 1:
        fail(f"Error - Wrong Input Parameter\n{text!r} is not a job identifier "
             f"(https://HOST:{LB_PORT}/ID or ID)")
    return int(m.group(1))


def read_id_file(path: str) -> list[int]:
    """The ids in a file written by glite-wms-job-submit -o (lines starting with '#'
    are comments)."""
    try:
        with open(path) as f:
            lines = [ln.strip() for ln in f]
    except OSError as e:
        fail(f"Error - Input File Error\n{path}: {e.strerror}")
    ids = [parse_job_id(ln) for ln in lines if ln and not ln.startswith("#")]
    if not ids:
        fail(f"Error - Input File Error\n{path}: no job identifier in it")
    return ids


def write_id_file(path: str, uris: Sequence[str]) -> None:
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write("###Submitted Job Ids###\n")
        for uri in uris:
            f.write(uri + "\n")


def when(t: float | None) -> str:
    if t is None:
        return "---"
    return time.strftime("%a %b %d %H:%M:%S %Y %Z", time.localtime(t))


def banner(command: str, outcome: str = "Success") -> str:
    title = f" {command} {outcome} "
    left = (len(RULE) - len(title)) // 2
    return "=" * left + title + "=" * (len(RULE) - left - len(title))


# ---- the L&B view -----------------------------------------------------------------

def cleared_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "corral", "glite-cleared")


def clear_key(job: Mapping[str, Any]) -> str:
    """A job as the record of retrieved outputs names it: its id and submit time
    (ids of another controller, or of a store started afresh, are not confused)."""
    return f"{job['id']}@{float(job.get('t_submit') or 0):.6f}"


def cleared_keys() -> set[str]:
    """The jobs whose output glite-wms-job-output retrieved here (gLite: Cleared)."""
    try:
        with open(cleared_path()) as f:
            return set(f.read().split())
    except OSError:
        return set()


def mark_cleared(job: Mapping[str, Any]) -> None:
    path = cleared_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{clear_key(job)}\n")


def status_of(job: Mapping[str, Any], cleared: bool = False) -> tuple[str, str]:
    """(gLite's state name with its done code, the status reason)."""
    state = str(job["state"])
    code = job.get("exit_code")
    if cleared and state in _ENDED | {"CANCELLED", "NODE_FAIL"}:
        return "Cleared", "user retrieved output sandbox"
    if state == "PENDING":
        reason = str(job.get("reason") or "None")
        if reason in ("None", "BadConstraints", "PartitionNodeLimit", "ReqNodeNotAvail"):
            return "Waiting", ("no resource matches the job's requirements now"
                               if reason == "BadConstraints" else "waiting for matching")
        return "Scheduled", f"queued: {reason}"
    if state == "HELD":
        return "Waiting", "job held"
    if state in ("RUNNING", "SUSPENDED", "COMPLETING"):
        return "Running", "job is running"
    if state == "COMPLETED":
        return "Done (Success)", "Job terminated successfully"
    if state == "CANCELLED":
        return "Cancelled", "Cancelled by user"
    if state == "NODE_FAIL":
        return "Aborted", "the node running the job failed"
    if state == "FAILED" and code:
        return "Done (Exit Code !=0)", f"Job terminated with exit code {code}"
    sig = job.get("signal")
    why = {"TIMEOUT": "time limit reached", "OUT_OF_MEMORY": "out of memory",
           "PREEMPTED": "preempted"}.get(state, f"killed by signal {sig}" if sig else "failed")
    return "Done (Failed)", f"Job failed: {why}"


@dataclass(frozen=True, slots=True)
class LbEvent:
    name: str  # L&B's event type
    t: float
    state: str  # the gLite state the job enters
    details: tuple[tuple[str, str], ...] = ()


def lb_events(events: Sequence[Mapping[str, Any]], cleared: bool = False) -> list[LbEvent]:
    """The job's corral events as L&B would have logged them."""
    out: list[LbEvent] = []
    for e in events:
        kind, to, t = e["kind"], e.get("to_state"), float(e["t"])
        data: Mapping[str, Any] = e.get("data") or {}
        if kind == "submit":
            out.append(LbEvent("RegJob", t, "Submitted", (("Source", "UserInterface"),)))
            out.append(LbEvent("Accepted", t, "Waiting", (("Source", "NetworkServer"),)))
        elif kind == "requeue":
            out.append(LbEvent("Resubmission", t, "Waiting",
                               (("Result", "WILLRESUB"), ("Reason", str(data.get("why", ""))))))
        elif kind == "state" and to == "RUNNING":
            dest = ",".join(data.get("nodes") or [])
            out.append(LbEvent("Match", t, "Ready", (("Dest id", dest),)))
            out.append(LbEvent("EnQueued", t, "Scheduled", (("Result", "OK"),)))
            out.append(LbEvent("Running", t, "Running", (("Node", dest),)))
        elif kind == "state" and to in _ENDED:
            state, reason = status_of({"state": to, "exit_code": data.get("exit_code"),
                                       "signal": data.get("signal")})
            out.append(LbEvent("Done", t, state, (
                ("Exit code", str(data.get("exit_code", ""))), ("Reason", reason))))
        elif kind == "state" and to == "CANCELLED":
            out.append(LbEvent("Cancel", t, "Cancelled", (("Reason", "Cancelled by user"),)))
        elif kind == "state" and to == "NODE_FAIL":
            out.append(LbEvent("Abort", t, "Aborted",
                               (("Reason", str(data.get("why", "node failure"))),)))
    if cleared and out:
        out.append(LbEvent("Clear", out[-1].t, "Cleared",
                           (("Reason", "user retrieved output sandbox"),)))
    return out
