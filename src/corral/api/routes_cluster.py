"""/v1/nodes, /v1/partitions, /v1/status and the agent endpoints (spec 02)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from corral import __version__
from corral.api.auth import require_agent, require_reader, user_caller
from corral.api.responses import (
    Acknowledged,
    Deleted,
    Node,
    NodeDrain,
    NodeList,
    Orders,
    PartitionList,
    Registered,
    ReservationList,
    SiteList,
    Status,
)
from corral.api.responses import Reservation as ReservationAnswer
from corral.api.routes_jobs import CtlDep
from corral.api.schemas import DrainRequest, ReservationRequest
from corral.model.agent_messages import (
    AgentCheck,
    AgentHealth,
    AgentLeave,
    AgentPoll,
    AgentRegister,
    AgentReport,
)
from corral.model.licenses import held
from corral.model.pilots import PilotClaim
from corral.services.agents import AgentService
from corral.services.controller import Controller
from corral.services.identity import Caller
from corral.services.pilot_auth import CLAIM_KEY, check_speaks_for
from corral.services.reservations import Reservation
from corral.services.sites import summary as site_summary
from corral.services.submit import partition_nodes

router = APIRouter()
CallerDep = Annotated[Caller, Depends(user_caller)]


async def agents_of(request: Request) -> AgentService:
    svc: AgentService = request.app.state.agents
    return svc


AgentsDep = Annotated[AgentService, Depends(agents_of)]


@router.get("/v1/status", dependencies=[Depends(require_reader)], response_model=Status)
async def status(ctl: CtlDep) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for j in ctl.jobs.values():
        counts[str(j.state)] = counts.get(str(j.state), 0) + 1
    for state, n in ctl.arrays.counts().items():  # tasks in arrays' pending rests
        counts[state] = counts.get(state, 0) + n
    sched = ctl.scheduler
    return {
        "version": __version__,
        "uptime_s": round(time.time() - ctl.t_started, 3),
        "database": ctl.engine.url.render_as_string(hide_password=True),
        "policy": ctl.cfg.scheduler.policy,
        "keep_finished_s": ctl.cfg.controller.keep_finished_s,
        "weights": ctl.cfg.scheduler.weights.model_dump(),
        "kill_grace_s": ctl.cfg.controller.kill_grace_s,
        "node_timeout_s": ctl.cfg.controller.node_timeout_s,
        "jobs": counts,
        "nodes": {n.name: str(n.state) for n in ctl.nodes.values()},
        "scheduler_passes": sched.passes if sched else 0,
        "last_pass_s": sched.last_pass_s if sched else 0.0,
        "licenses": license_use(ctl),
    }


def license_use(ctl: Controller) -> dict[str, dict[str, int]]:
    """Each configured license: how many there are, how many running jobs hold."""
    used = held(j.spec.licenses for j in ctl.jobs.values() if j.state.is_active)
    return {name: {"total": total, "used": used.get(name, 0)}
            for name, total in sorted(ctl.cfg.licenses.items())}


@router.get("/v1/nodes", response_model=NodeList)
async def nodes(ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    return {"nodes": [n.to_dict() for n in sorted(ctl.nodes.values(), key=lambda n: n.name)]}


@router.post("/v1/nodes/{name}/drain", response_model=Node)
async def drain(name: str, body: DrainRequest, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    return (await ctl.set_drain(caller, name, True, body.reason)).to_dict()


@router.post("/v1/nodes/{name}/resume", response_model=Node)
async def resume(name: str, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    return (await ctl.set_drain(caller, name, False)).to_dict()


@router.delete("/v1/nodes/{name}", response_model=Deleted)
async def delete_node(name: str, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    await ctl.delete_node(caller, name)
    return {"deleted": name}


@router.get("/v1/reservations", response_model=ReservationList)
async def reservations(ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    items = sorted(ctl.reservations.items.values(), key=lambda r: (r.t_start, r.name))
    return {"reservations": [r.to_dict() for r in items]}


@router.post("/v1/reservations", status_code=201, response_model=ReservationAnswer)
async def create_reservation(body: ReservationRequest, ctl: CtlDep,
                             caller: CallerDep) -> dict[str, Any]:
    r = Reservation(name=body.name, nodes=tuple(body.nodes), t_start=body.t_start,
                    t_end=body.t_end, users=tuple(body.users), accounts=tuple(body.accounts),
                    maintenance=body.maintenance)
    return (await ctl.reservations.create(caller, r)).to_dict()


@router.delete("/v1/reservations/{name}", response_model=Deleted)
async def delete_reservation(name: str, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    await ctl.reservations.delete(caller, name)
    return {"deleted": name}


@router.get("/v1/partitions", response_model=PartitionList)
async def partitions(ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    out = []
    for p in ctl.cfg.partitions:
        members = partition_nodes(p, ctl.nodes.values())
        out.append({
            "name": p.name, "default": p is ctl.cfg.default_partition,
            "nodes": sorted(n.name for n in members), "max_time_s": p.max_time_s,
            "default_time_s": p.default_time_s, "max_nodes": p.max_nodes,
            "cpus": sum(n.cpus for n in members),
            "cpus_used": sum(n.cpus_used for n in members),
            "max_cpus_per_node": p.max_cpus_per_node, "priority_tier": p.priority_tier,
            "preempt_mode": p.preempt_mode, "default_mem_mb_per_node": p.default_mem_mb_per_node,
            "allow_accounts": list(p.allow_accounts), "allow_groups": list(p.allow_groups),
        })
    return {"partitions": out}


def _pilot(request: Request) -> PilotClaim | None:
    claim: PilotClaim | None = request.scope.get(CLAIM_KEY)
    return claim


@router.post("/agent/v1/register", dependencies=[Depends(require_agent)],
             response_model=Registered)
async def register(body: AgentRegister, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node, site=body.site, deadline=body.deadline,
                     registering=True)
    return await agents.register(body)


@router.post("/agent/v1/poll", dependencies=[Depends(require_agent)], response_model=Orders)
async def poll(body: AgentPoll, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node)
    return await agents.poll(body)


@router.post("/agent/v1/health", dependencies=[Depends(require_agent)],
             response_model=NodeDrain)
async def health(body: AgentHealth, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node)
    return await agents.health(body)


@router.post("/agent/v1/check", dependencies=[Depends(require_agent)],
             response_model=NodeDrain)
async def check(body: AgentCheck, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node)
    return await agents.check(body)


@router.post("/agent/v1/report", dependencies=[Depends(require_agent)],
             response_model=Acknowledged)
async def report(body: AgentReport, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node)
    return await agents.report(body)


@router.post("/agent/v1/leave", dependencies=[Depends(require_agent)],
             response_model=Acknowledged)
async def leave(body: AgentLeave, agents: AgentsDep, request: Request) -> dict[str, Any]:
    check_speaks_for(_pilot(request), body.node)
    return await agents.leave(body)


@router.get("/v1/sites", response_model=SiteList)
async def sites(ctl: CtlDep, agents: AgentsDep, caller: CallerDep) -> dict[str, Any]:
    return {"sites": site_summary(ctl, agents.site_ends)}
