"""The facts behind `corral explain`, in plain words: what keeps a waiting job off the
nodes it could use, and why a finished job ended."""

from __future__ import annotations

import math
import signal as _signal
import time
from typing import TYPE_CHECKING

from corral.model.event import Event
from corral.model.features import join_constraint
from corral.model.intent import NO_REASON
from corral.model.job import Job
from corral.model.node import Node
from corral.model.states import JobState
from corral.model.units import format_duration_s
from corral.sched.constraint import compile_constraint
from corral.services.submit import partition_nodes

if TYPE_CHECKING:
    from corral.services.controller import Controller
    from corral.services.reservations import Reservation

MAX_LISTED = 5  # nodes or jobs named in one sentence


def when(t: float | None) -> str:
    if t is None:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _names(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return ", ".join(items[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def candidate_nodes(ctl: Controller, job: Job) -> list[Node]:
    """The nodes the job could ever use: its partition's, less the excluded, with its
    features and big enough for one share of it (its required nodes, if it names any)."""
    part = ctl.cfg.partition(job.partition)
    members = partition_nodes(part, ctl.nodes.values()) if part else []
    wanted = join_constraint(job.spec.features)
    ok = compile_constraint(wanted) if wanted else None
    mem = job.mem_mb_per_node or 0
    out = [n for n in members
           if n.name not in job.spec.exclude and (ok is None or ok(frozenset(n.features)))
           and n.cpus >= job.spec.cpus_per_node and n.gpus >= job.spec.gpus_per_node
           and n.mem_mb >= mem]
    if job.spec.nodelist:
        out = [n for n in out if n.name in job.spec.nodelist]
    kind = job.spec.core_type
    if kind and not job.spec.exclusive:  # nodes with core types: enough of its type
        out = [n for n in out for c in [_of_kind(n, kind)]
               if c is None or c[1] >= job.spec.cpus_per_node]
    return out


def _of_kind(n: Node, kind: str) -> tuple[int, int] | None:
    """(free, all) CPUs of that core type on node n (None: its core types are unknown)."""
    layout = n.cpu_layout
    if layout is None or not layout.type_source:
        return None
    held = {c for ids in n.cpus_held.values() for c in ids}
    typed = [c.id for c in layout.cpus if c.kind == kind]
    return sum(1 for c in typed if c not in held), len(typed)


def core_type_line(job: Job, nodes: list[Node]) -> str | None:
    """Why a job asking a core type waits on nodes that have CPUs free but too few of
    its type (None: some node has enough, or none tells core types apart)."""
    kind, need = job.spec.core_type, job.spec.cpus_per_node
    if not kind or job.spec.exclusive:
        return None
    counts = [(n.name, c) for n in nodes if n.reachable and not n.drain
              for c in [_of_kind(n, kind)] if c is not None]
    if not counts or any(free >= need for _, (free, _all) in counts):
        return None
    told = ", ".join(f"{name} {free} of {total}" for name, (free, total) in counts[:MAX_LISTED])
    return (f"It asks for {need} {kind} CPU(s) per node (--core-type={kind}); no node "
            f"has that many free now ({told}). CPUs of another type do not count.")


def _blocking(r: Reservation, job: Job, now: float) -> bool:
    """Whether reservation r keeps this job (starting now, for its time limit) off its
    nodes: it is not the job's own, and it overlaps the job's run."""
    if r.name == job.spec.reservation or r.t_end <= now:
        return False
    end = now + job.time_limit_s if job.time_limit_s else math.inf
    return r.t_start < end


def node_lines(ctl: Controller, job: Job) -> list[str]:
    """What holds the job's candidate nodes: down, drained, reserved, or busy."""
    now = time.time()
    nodes = candidate_nodes(ctl, job)
    if not nodes:
        return ["No node of its partition can ever hold it (size, features, --nodelist, "
                "--exclude)."]
    lines: list[str] = []
    down = [n.name for n in nodes if not n.reachable]
    if down:
        lines.append(f"Node(s) {_names(down)} are down: their agents are not connected.")
    for n in nodes:
        if n.drain:
            lines.append(f"Node {n.name} is drained by an administrator "
                         f"(reason: {n.drain_reason or 'none given'}): no job starts there "
                         f"until it is resumed.")
    held: set[str] = set()
    for r in ctl.reservations.items.values():
        mine = [n.name for n in nodes if n.name in r.nodes]
        if not mine or not _blocking(r, job, now):
            continue
        held |= set(mine)
        what = "a maintenance window" if r.maintenance else f"reservation {r.name!r}"
        limit = (f"its time limit of {format_duration_s(job.time_limit_s)}"
                 if job.time_limit_s else "it has no time limit, so it")
        if r.t_start <= now:
            lines.append(f"Node(s) {_names(mine)} are set aside by {what} until "
                         f"{when(r.t_end)}.")
        else:
            lines.append(f"Node(s) {_names(mine)} are set aside by {what} from "
                         f"{when(r.t_start)} to {when(r.t_end)}; started now, "
                         f"{limit} would run into it.")
    typed = core_type_line(job, nodes)
    if typed is not None:
        lines.append(typed)
    busy = [n for n in nodes if n.reachable and not n.drain and n.jobs and n.name not in held]
    running = sorted({j for n in busy for j in n.jobs if j != job.id})
    if running:
        lines.append(f"Job(s) {_names([str(j) for j in running])} run on "
                     f"{_names([n.name for n in busy])}; it starts when enough of them end.")
    elif not lines:
        lines.append("Its nodes are free now: it should start at the next scheduling pass.")
    return lines


def _signal_name(num: int) -> str:
    try:
        return f"{num} ({_signal.Signals(num).name})"
    except ValueError:
        return str(num)


def ended_lines(ctl: Controller, job: Job, events: list[Event]) -> list[str]:
    """Why a finished job ended, from its record and its last state change."""
    last = next((e for e in reversed(events) if e.to_state == str(job.state)), None)
    data = last.data if last is not None else {}
    message = str(data.get("message") or "")
    if not message and job.reason not in (NO_REASON, ""):
        message = job.reason
    state = job.state
    if message.startswith("cannot start"):
        wait = ctl.cfg.controller.output_wait_s
        return [f"It could not start: {message[len('cannot start: '):]}.",
                f"corral waited {f'{wait:g} s' if wait < 60 else format_duration_s(wait)} "
                "for its working and output directories to appear; create them before "
                "submitting (or check their permissions)."]
    if state == JobState.TIMEOUT:
        return [f"It ran into its time limit of {format_duration_s(job.time_limit_s)} and "
                "was stopped (SIGTERM, then SIGKILL)."]
    if state == JobState.OUT_OF_MEMORY:
        return [f"It used more memory than its limit of {job.mem_mb_per_node} MB per node "
                "and was killed."]
    if state == JobState.CANCELLED:
        by = next((e.data["by"] for e in reversed(events) if e.data.get("by")), None)
        return [f"It was cancelled{f' by {by}' if by else ''}."]
    if state == JobState.PREEMPTED:
        return ["It was stopped to make room for a job of a higher-priority partition or "
                "QOS."]
    if state == JobState.NODE_FAIL:
        return [f"Its node failed: {data.get('why') or 'the node stopped answering'}."]
    lines = []
    if message:
        lines.append(f"The node's agent reported: {message}.")
    elif data.get("why"):
        lines.append(f"It was ended because its {data['why']}.")
    if job.signal:
        lines.append(f"Its command was killed by signal {_signal_name(job.signal)} "
                     "(sent from outside corral, or it crashed).")
    elif state == JobState.FAILED and job.exit_code:
        lines.append(f"Its command exited with code {job.exit_code}; its output, "
                     f"{job.stdout_path}, should say why.")
    return lines
