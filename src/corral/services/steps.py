"""Job steps (srun inside an allocation): lay out, order the agents, record.

The controller lays a step's tasks over the job's nodes (model.step.plan_step), sends
each node its share as a `step` order, and writes `step` events (start and end) to
the job's event log; the tasks' output goes from the agents straight to the client.
Steps live in memory while their job runs; the event log is their lasting record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corral.model.errors import Conflict, InvalidRequest, NotFound
from corral.model.event import EventKind
from corral.model.job import Job
from corral.model.states import JobState
from corral.model.step import StepLayout, plan_step
from corral.services.authz import Action
from corral.services.identity import Caller
from corral.services.launch import mem_limit_mb

if TYPE_CHECKING:
    from corral.services.controller import Controller

STDIN_MODES = ("none", "all")


@dataclass(slots=True)
class Step:
    job_id: int
    step_id: int
    name: str
    argv: tuple[str, ...]
    layout: StepLayout
    cpus_per_task: int
    t_start: float
    state: str = "RUNNING"
    exit_code: int | None = None
    signal: int | None = None
    t_end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "step_id": self.step_id, "name": self.name,
                "argv": list(self.argv), "nodes": list(self.layout.nodes),
                "tasks_per_node": list(self.layout.tasks_per_node),
                "distribution": self.layout.distribution,
                "ntasks": self.layout.ntasks, "cpus_per_task": self.cpus_per_task,
                "state": self.state, "exit_code": self.exit_code, "signal": self.signal,
                "t_start": self.t_start, "t_end": self.t_end}


@dataclass(frozen=True, slots=True)
class StepRequest:
    argv: tuple[str, ...]
    name: str
    working_dir: str
    environment: dict[str, str]
    ntasks: int | None
    nodes: int | None
    cpus_per_task: int
    overcommit: bool
    io_port: int
    io_key: str
    io_node: str | None  # the node the client runs on; None: the controller's host
    stdout: str | None
    stderr: str | None
    stdin: str
    nodelist: tuple[str, ...] | None = None  # these nodes of the job (srun -w)
    distribution: str = "block"  # or "cyclic" (srun -m)
    pty: bool = False  # task 0 in a pseudo terminal of this window size (srun --pty)
    pty_rows: int = 24
    pty_cols: int = 80
    # where the client runs when it is on no node (srun on a login host, through its
    # relay or with a token): the nodes connect back there; None: the controller's host
    io_host: str | None = None


class Steps:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.by_job: dict[int, dict[int, Step]] = {}
        self.next_id: dict[int, int] = {}

    def _running_job(self, caller: Caller, job_id: int) -> Job:
        job = self.ctl.own_job(caller, job_id, Action.STEP)
        if job.state != JobState.RUNNING:
            raise Conflict(f"job {job_id}: is {job.state}; steps run only in a RUNNING job")
        return job

    def _step(self, caller: Caller, job_id: int, step_id: int) -> Step:
        self.ctl.own_job(caller, job_id, Action.STEP)
        step = self.by_job.get(job_id, {}).get(step_id)
        if step is None:
            raise NotFound(f"step {job_id}.{step_id}: no such step")
        return step

    async def create(self, caller: Caller, job_id: int, req: StepRequest) -> Step:
        ctl = self.ctl
        job = self._running_job(caller, job_id)
        if req.stdin not in STDIN_MODES and not (req.stdin.isdigit()):
            raise InvalidRequest(f"stdin: {req.stdin!r} is not none, all or a task rank")
        per_node = job.spec.cpus_per_node
        if job.spec.exclusive and job.nodes:
            per_node = min(ctl.nodes[n].cpus for n in job.nodes if n in ctl.nodes)
        layout = plan_step(job.nodes, per_node, ntasks=req.ntasks, nodes=req.nodes,
                           cpus_per_task=req.cpus_per_task, overcommit=req.overcommit,
                           nodelist=req.nodelist, distribution=req.distribution)
        if req.pty and req.stdin != "0":
            raise InvalidRequest(f"stdin: a pseudo terminal (pty) is task 0's; stdin "
                                 f"{req.stdin!r} must be 0")
        if req.stdin.isdigit() and int(req.stdin) >= layout.ntasks:
            raise InvalidRequest(f"stdin: task {req.stdin} does not exist; the step has "
                                 f"{layout.ntasks} task(s)")
        io_host = req.io_host
        if req.io_node is not None:
            io_host = ctl.node_address.get(req.io_node)
            if io_host is None:
                raise InvalidRequest(f"io_node: {req.io_node!r} is not a known node")
        step_id = self.next_id.get(job_id, 0)
        self.next_id[job_id] = step_id + 1
        step = Step(job_id, step_id, req.name, req.argv, layout, req.cpus_per_task,
                    time.time())
        self.by_job.setdefault(job_id, {})[step_id] = step
        await ctl.persist(ctl.record(job, EventKind.STEP, data={
            "step_id": step_id, "action": "start", "name": req.name,
            "nodes": list(layout.nodes), "ntasks": layout.ntasks}))
        common = {
            "job_id": job_id, "step_id": step_id, "name": req.name, "user": job.user,
            "uid": job.uid, "gid": job.gid, "argv": list(req.argv),
            "working_dir": req.working_dir, "environment": req.environment,
            "step_nodes": list(layout.nodes), "ntasks": layout.ntasks,
            "tasks_per_node": layout.slurm_tasks_per_node(),
            "cpus_per_task": req.cpus_per_task, "io_host": io_host, "io_port": req.io_port,
            "io_key": req.io_key, "stdout": req.stdout, "stderr": req.stderr,
            "stdin": req.stdin, "array_job_id": job.array_job_id,
            "array_task_id": job.array_task_id,
            "mem_mb": mem_limit_mb(ctl.cfg, job), "pty": req.pty, "pty_rows": req.pty_rows,
            "pty_cols": req.pty_cols,
        }
        for index, node in enumerate(layout.nodes):
            ctl.orders.push(node, {"kind": "step", "job_id": job_id, "step": {
                **common, "ranks": list(layout.ranks_of(index)), "node_index": index,
                "gpu_ids": list(job.gpu_ids.get(node, ()))}})
        return step

    async def end(self, caller: Caller, job_id: int, step_id: int, *,
                  exit_code: int | None, signal: int | None, cancelled: bool = False,
                  out_of_memory: bool = False) -> Step:
        step = self._step(caller, job_id, step_id)
        if step.state != "RUNNING":
            return step
        step.t_end = time.time()
        step.exit_code, step.signal = exit_code, signal
        step.state = ("CANCELLED" if cancelled else "OUT_OF_MEMORY" if out_of_memory else
                      "COMPLETED" if exit_code == 0 and signal is None else "FAILED")
        job = self.ctl.jobs[job_id]
        await self.ctl.persist(self.ctl.record(job, EventKind.STEP, data={
            "step_id": step_id, "action": "end", "state": step.state,
            "exit_code": exit_code, "signal": signal}))
        if cancelled:
            for node in step.layout.nodes:
                self.ctl.orders.push(node, {"kind": "step_cancel", "job_id": job_id,
                                            "step_id": step_id})
        return step

    def list(self, caller: Caller, job_id: int) -> list[Step]:
        self.ctl.own_job(caller, job_id, Action.STEP)
        return sorted(self.by_job.get(job_id, {}).values(), key=lambda s: s.step_id)

    def job_ended(self, job: Job) -> None:
        """The job left its nodes (ended or requeued): whatever of its steps is left
        there goes, and the records go with it (the event log keeps them)."""
        self.next_id.pop(job.id, None)
        steps = self.by_job.pop(job.id, None)
        self.ctl.accounting.left_nodes(job, (steps or {}).values())
        if steps is not None:
            for node in job.nodes:
                self.ctl.orders.push(node, {"kind": "end", "job_id": job.id})
