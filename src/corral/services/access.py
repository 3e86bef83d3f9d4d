"""Who may see and do what: the one place where requests are authorized.

Every use case that reads a job, acts on one, or changes the cluster asks here
(docs/specs/05-rest-api.md §1). The rules, as Slurm's:

- A job's private data — its script, its environment and its command line
  (`argv`, which plays the script's part for a command job) — is shown only to
  its owner and to administrators. Everything else about a job (name, state,
  resources, working directory, output paths…) is public, unless the site sets
  `controller.private_data = ["jobs"]`: then plain users see only their own
  jobs, and another user's job answers as if it did not exist.
- Who may act on a job or on the cluster is the table of services/authz.py: a
  job's owner acts on it, operators on any job (and drain and resume nodes),
  administrators on everything. Privileged fields — a fixed priority, a negative
  nice, raising a time limit — need an operator; submitting as another user,
  deleting nodes and reservations an administrator. A refused request gets one
  line naming what was refused and the role it needs.
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Mapping
from typing import Any

from corral.model.errors import InvalidRequest, NotFound
from corral.model.event import Event, EventKind
from corral.model.intent import StopIntent
from corral.model.job import Job, JobSpec
from corral.model.units import UNLIMITED_S, format_duration_s
from corral.services.authz import Action, allows, authorize
from corral.services.identity import Caller, RolePolicy, local_caller

# A user named in a request (a name or a uid) -> that user as a caller.
UserLookup = Callable[[str, RolePolicy], Caller]


def local_user(user: str, policy: RolePolicy) -> Caller:
    """A user of this system's account database (a name or a uid)."""
    try:
        pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    except (KeyError, ValueError, OverflowError):  # unknown, or no uid of any user
        raise InvalidRequest(f"user: no such user {user!r}") from None
    return local_caller(pw.pw_uid, pw.pw_name, pw.pw_gid, policy)


# The spec fields only the owner and administrators may read.
PRIVATE_SPEC_FIELDS = ("script", "environment", "argv", "jdl")


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
    if out.get("jdl") is not None:  # may name the environment and arguments
        out["jdl"] = ""
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
        return allows(caller, Action.READ_PRIVATE, job.uid)

    def sees(self, caller: Caller, job: Job) -> bool:
        """Does the job exist for the caller (private_data = ["jobs"] hides others')?"""
        return not self.private_jobs or caller.uid == job.uid or allows(caller, Action.SEE_ALL)

    def sees_all(self, caller: Caller) -> bool:
        return not self.private_jobs or allows(caller, Action.SEE_ALL)

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
        if "set" in event.data:  # what replay sets (services/state.py): not shown
            d["data"] = {k: v for k, v in event.data.items() if k != "set"}
        if not self.reads_private(caller, job) and event.kind == EventKind.SUBMIT:
            d["data"] = _withheld_spec(d["data"])
        return d

    # ---- acting on a job ---------------------------------------------------------
    def check_acts_on(self, caller: Caller, job: Job, action: Action) -> None:
        """The job's owner, or a caller whose role the action needs on others' jobs.
        A job the caller may not see is not found rather than refused."""
        if allows(caller, action, job.uid):
            return
        self.check_sees(caller, job)
        authorize(caller, action, job.uid, what=f"{action.value} job {job.id} of {job.user}")

    @staticmethod
    def check_release(caller: Caller, job: Job) -> None:
        if job.intent == StopIntent.HOLD_ADMIN:
            authorize(caller, Action.RELEASE_ADMIN_HOLD,
                      what=f"release job {job.id} (held by an operator or administrator)")

    @staticmethod
    def held_by(caller: Caller, owner_uid: int) -> StopIntent:
        """Who holds a job: its owner, or an operator or administrator (then only
        one of them may release it)."""
        return StopIntent.HOLD_USER if caller.uid == owner_uid or not caller.is_operator \
            else StopIntent.HOLD_ADMIN

    # ---- privileged fields ---------------------------------------------------------
    @staticmethod
    def check_priority_nice(caller: Caller, priority: int | None, nice: int | None) -> None:
        if allows(caller, Action.SET_PRIORITY):
            return
        if priority is not None:
            authorize(caller, Action.SET_PRIORITY,
                      what=f"priority: set a fixed priority (got {priority})")
        if nice is not None and nice < 0:
            authorize(caller, Action.SET_PRIORITY,
                      what=f"nice: set a negative nice (got {nice}; 0 to 10000 are allowed)")

    def check_submit(self, caller: Caller, spec: JobSpec) -> None:
        self.check_priority_nice(caller, spec.priority, spec.nice)

    def check_update(self, caller: Caller, job: Job, fields: Mapping[str, Any],
                     new_time_limit_s: int) -> None:
        self.check_priority_nice(caller, fields.get("priority"), fields.get("nice"))
        if ("time_limit_s" in fields and not allows(caller, Action.RAISE_TIME_LIMIT)
                and _limit_s(new_time_limit_s) > _limit_s(job.time_limit_s)):
            authorize(caller, Action.RAISE_TIME_LIMIT, what=f"time_limit_s: raise it above "
                      f"{format_duration_s(job.time_limit_s)}")

    @staticmethod
    def submit_owner(caller: Caller, user: str | None, policy: RolePolicy,
                     lookup: UserLookup | None = None) -> Caller:
        """The owner of a submission: the caller, or (for an administrator) another
        user, found by `lookup` (default: the system's account database)."""
        if user is None or user in (caller.user, str(caller.uid)):
            return caller
        authorize(caller, Action.SUBMIT_AS, what=f"user: submit as {user!r}")
        return (lookup or local_user)(user, policy)

    # ---- the cluster ---------------------------------------------------------------
    @staticmethod
    def check_cluster(caller: Caller, action: Action, what: str) -> None:
        """Nodes and reservations (what: the refused action as the message says it)."""
        authorize(caller, action, what=what)
