"""/v1/reports/…: usage reports over a period, and /v1/jobs/{id}/usage
(docs/accounting.md). Anyone may read them; with `private_data = ["jobs"]` a plain
user's per-user rows are their own only. Times are epoch seconds; a period is
whole UTC hours (start rounded down, end up); without one, yesterday (UTC)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from corral.api.auth import user_caller
from corral.api.query import names
from corral.api.responses import Real
from corral.api.routes_jobs import CtlDep, JobIdPath
from corral.services.identity import Caller
from corral.services.reports import Reports, period

router = APIRouter(prefix="/v1")
CallerDep = Annotated[Caller, Depends(user_caller)]
Start = Annotated[float | None, Query(description="epoch seconds; rounded down to the hour")]
End = Annotated[float | None, Query(description="epoch seconds; rounded up to the hour")]
Names = Annotated[list[str] | None, Query(max_length=1000)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class UtilizationRow(_Answer):
    allocated: Real  # CPU-seconds
    down: Real
    planned_down: Real
    reserved: Real
    idle: Real
    reported: Real  # the cluster's CPU-seconds sampled
    gpu_s: Real
    charge: Real  # billing-seconds
    jobs: int  # jobs that ended


class UtilizationBucket(UtilizationRow):
    t: int  # the bucket's start


class Utilization(_Answer):
    start: int
    end: int
    bucket_s: int
    unit: str
    totals: UtilizationRow
    series: list[UtilizationBucket]


class UserUsage(_Answer):
    user: str
    account: str  # "" when grouped, or when the jobs named none
    cpu_s: Real  # allocated
    cpu_s_used: Real | None  # None: not measured
    gpu_s: Real
    charge: Real
    energy_j: Real | None  # None: not known
    jobs: int
    accounts: list[str]


class UserReport(_Answer):
    start: int
    end: int
    unit: str
    users: list[UserUsage]


class AccountRow(_Answer):
    account: str
    user: str  # "": the account's own row (its users and sub-accounts together)
    depth: int
    parent: str | None
    cpu_s: Real
    gpu_s: Real
    charge: Real
    energy_j: Real | None
    jobs: int


class AccountReport(_Answer):
    start: int
    end: int
    unit: str
    rows: list[AccountRow]


class JobBucket(_Answer):
    lo: int
    hi: int | None  # None: open
    jobs: int
    cpu_s: Real
    wait_s_mean: Real


class JobReport(_Answer):
    start: int
    end: int
    by: str
    unit: str
    buckets: list[JobBucket]


class UsageRecord(_Answer):
    job_id: int
    step_id: int  # -1: the job's whole allocation
    user: str
    account: str
    partition: str
    state: str
    t_submit: Real
    t_start: Real | None
    t_end: Real
    nodes: int
    cpus: int
    gpus: int
    mem_mb: Real
    cpu_s_alloc: Real
    cpu_s_used: Real | None
    gpu_s: Real
    max_rss_mb: Real | None
    energy_j: Real | None
    wait_s: Real | None
    billing: Real
    charge: Real
    exit_code: int | None
    sites: str = ""  # each node's site in node order, comma-separated ("" for none)


class JobUsage(_Answer):
    job: UsageRecord
    steps: list[UsageRecord]


@router.get("/reports/utilization", response_model=Utilization)
async def utilization(ctl: CtlDep, caller: CallerDep, start: Start = None, end: End = None,
                      bucket: str = "all") -> dict[str, Any]:
    """Allocated, down, planned down, reserved and idle CPU-seconds over the period,
    in buckets of an hour, day, week, or all of it."""
    return await Reports(ctl).utilization(period(start, end), bucket)


@router.get("/reports/users", response_model=UserReport)
async def users(ctl: CtlDep, caller: CallerDep, start: Start = None, end: End = None,
                top: Annotated[int | None, Query(ge=1, le=100_000)] = None,
                group: bool = False, user: Names = None,
                account: Names = None) -> dict[str, Any]:
    """Usage per user and account (`group`: per user), the largest first."""
    return await Reports(ctl).users(caller, period(start, end), top=top, group=group,
                                    users=names("user", user),
                                    accounts=names("account", account))


@router.get("/reports/accounts", response_model=AccountReport)
async def accounts(ctl: CtlDep, caller: CallerDep, start: Start = None,
                   end: End = None) -> dict[str, Any]:
    """Usage per account (with its sub-accounts) and per user under it, tree order."""
    return await Reports(ctl).accounts(caller, period(start, end))


@router.get("/reports/jobs", response_model=JobReport)
async def jobs(ctl: CtlDep, caller: CallerDep, start: Start = None, end: End = None,
               by: str = "size", account: Names = None,
               partition: Names = None) -> dict[str, Any]:
    """The jobs that ended in the period by size (CPUs) or wait bucket."""
    return await Reports(ctl).jobs(period(start, end), by,
                                   accounts=names("account", account),
                                   partitions=names("partition", partition))


@router.get("/jobs/{job_id}/usage", response_model=JobUsage)
async def job_usage(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    """A finished job's usage record and its steps'."""
    return await Reports(ctl).job(caller, job_id)
