"""Who may see and do what: the one place where requests are authorized.

Every use case that reads a job, acts on one, or changes the cluster asks here
(docs/specs/05-rest-api.md §1). The rules, as Slurm's:

- A job's private data — its script, its environment and its command line
  (`argv`, which plays the script's part for a command job) — is shown only to
  its owner and to administrators. Everything else about a job (name, state,
  resources, working directory, output paths…) is public, unless the site sets
  `controller.private_data = ["jobs"]`: then plain users see only their own
  jobs, and another user's job answers as if it did not exist.
- Only a job's owner or an administrator acts on it (cancel, hold, release,
  requeue, update, steps).
- Privileged fields are an administrator's: a fixed priority, a negative nice,
  raising a time limit, submitting as another user, releasing a job an
  administrator held, draining or resuming nodes, creating or deleting
  reservations. A plain user asking for one gets one line naming the field.
"""

from __future__ import annotations

import pwd
from collections.abc import Mapping
from typing import Any

from corral.model.errors import InvalidRequest, NotFound, PermissionDenied
from corral.model.event import Event, EventKind
from corral.model.job import Job, JobSpec
from corral.model.units import UNLIMITED_S, format_duration_s
from corral.services.identity import Caller

# The spec fields only the owner and administrators may read.
PRIVATE_SPEC_FIELDS = ("script", "environment", "argv")


def _limit_s(time_limit_s: int) -> float:
    """A resolved time limit as a comparable length (unlimited: infinite)."""
    return float("inf") if time_limit_s == UNLIMITED_S else float(time_limit_s)


def _withheld_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with its private fields emptied. A script that exists becomes ""
    (not None): readers can still tell a batch script from a command."""
    out = dict(spec)
    if "script" in out:
        out["script"] = None if out["script"] is None else ""
    if "environment" in out:
        out["environment"] = {}
    if "argv" in out:
        out["argv"] = []
    return out


def withheld(d: dict[str, Any]) -> dict[str, Any]:
    """A job's dict as those who may not read its private fields see it."""
    d["spec"] = _withheld_spec(d["spec"])
    d["withheld"] = list(PRIVATE_SPEC_FIELDS)
    return d


class Access:
    def __init__(self, *, private_jobs: bool = False) -> None:
        self.private_jobs = private_jobs

    # ---- reading ---------------------------------------------------------------
    @staticmethod
    def reads_private(caller: Caller, job: Job) -> bool:
        """May the caller read the job's script, environment and command line?"""
        return caller.may_act_on(job.uid)

    def sees(self, caller: Caller, job: Job) -> bool:
        """Does the job exist for the caller (private_data = ["jobs"] hides others')?"""
        return not self.private_jobs or caller.may_act_on(job.uid)

    def sees_all(self, caller: Caller) -> bool:
        return not self.private_jobs or caller.is_admin

    def check_sees(self, caller: Caller, job: Job) -> None:
        if not self.sees(caller, job):
            raise NotFound(f"job {job.id}: no such job")

    def job_dict(self, caller: Caller, job: Job,
                 d: dict[str, Any] | None = None) -> dict[str, Any]:
        """The job as the caller may read it (the API's Job); `d`: another rendering
        of it (an array's pending rest as one entry)."""
        d = job.to_dict() if d is None else d
        return d if self.reads_private(caller, job) else withheld(d)

    def event_dict(self, caller: Caller, job: Job, event: Event) -> dict[str, Any]:
        """One event of the job's log as the caller may read it: the submit event
        carries the spec, so its private fields go the same way as in job_dict."""
        d = event.to_dict()
        if not self.reads_private(caller, job) and event.kind == EventKind.SUBMIT:
            d["data"] = _withheld_spec(event.data)
        return d

    # ---- acting on a job ---------------------------------------------------------
    def check_acts_on(self, caller: Caller, job: Job) -> None:
        """Only the owner or an administrator acts on a job."""
        if caller.may_act_on(job.uid):
            return
        self.check_sees(caller, job)
        raise PermissionDenied(f"job {job.id}: belongs to {job.user}, not {caller.user}")

    @staticmethod
    def check_release(caller: Caller, job: Job) -> None:
        if job.reason == "JobHeldAdmin" and not caller.is_admin:
            raise PermissionDenied(f"job {job.id}: held by an administrator; only an "
                                   "administrator may release it")

    # ---- privileged fields ---------------------------------------------------------
    @staticmethod
    def check_priority_nice(caller: Caller, priority: int | None, nice: int | None) -> None:
        if caller.is_admin:
            return
        if priority is not None:
            raise PermissionDenied(f"priority: only an administrator may set a fixed "
                                   f"priority (got {priority})")
        if nice is not None and nice < 0:
            raise PermissionDenied(f"nice: only an administrator may set a negative nice "
                                   f"(got {nice}; 0 to 10000 are allowed)")

    def check_submit(self, caller: Caller, spec: JobSpec) -> None:
        self.check_priority_nice(caller, spec.priority, spec.nice)

    def check_update(self, caller: Caller, job: Job, fields: Mapping[str, Any],
                     new_time_limit_s: int) -> None:
        self.check_priority_nice(caller, fields.get("priority"), fields.get("nice"))
        if ("time_limit_s" in fields and not caller.is_admin
                and _limit_s(new_time_limit_s) > _limit_s(job.time_limit_s)):
            raise PermissionDenied(f"time_limit_s: only an administrator may raise it above "
                                   f"{format_duration_s(job.time_limit_s)}")

    @staticmethod
    def submit_owner(caller: Caller, user: str | None) -> Caller:
        """The owner of a submission: the caller, or (for an administrator) another user."""
        if user is None or user in (caller.user, str(caller.uid)):
            return caller
        if not caller.is_admin:
            raise PermissionDenied(f"user: only an administrator may submit as {user!r}")
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except (KeyError, ValueError, OverflowError):  # unknown, or no uid of any user
            raise InvalidRequest(f"user: no such user {user!r}") from None
        return Caller(uid=pw.pw_uid, user=pw.pw_name, gid=pw.pw_gid, is_admin=False)

    # ---- the cluster ---------------------------------------------------------------
    @staticmethod
    def check_admin(caller: Caller, what: str, action: str) -> None:
        """Node state and reservations are the administrators' (what: the field or
        object named in the message; action: what was refused)."""
        if not caller.is_admin:
            raise PermissionDenied(f"{what}: only an administrator may {action}")
