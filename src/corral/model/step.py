"""Job steps: tasks launched inside a running job's allocation (`srun`).

A step spreads `ntasks` tasks over some of the job's nodes (block distribution, as
Slurm's default: consecutive ranks on one node, nodes as even as possible) and its
tasks' output travels to the launching client over one stream per node, framed
as below (docs/specs/02-agent-protocol.md §5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from corral.model.errors import InvalidRequest
from corral.model.job import fill_pattern

MAX_TASKS = 100_000

# One frame: kind (1 byte), rank (4), payload length (4), payload.
FRAME_HEADER = struct.Struct("!BII")
FRAME_HELLO = ord("H")  # agent -> client: JSON {"key", "step_id", "node", "ranks"}
FRAME_STDOUT = ord("O")  # agent -> client: task output bytes
FRAME_STDERR = ord("E")
FRAME_EXIT = ord("X")  # agent -> client: JSON {"exit_code"} or {"signal"}
FRAME_STDIN = ord("I")  # client -> agent: bytes for the task's stdin
FRAME_STDIN_EOF = ord("C")  # client -> agent: close the task's stdin
MAX_FRAME_BYTES = 1 << 20


def frame(kind: int, rank: int, payload: bytes = b"") -> bytes:
    return FRAME_HEADER.pack(kind, rank, len(payload)) + payload


def parse_header(data: bytes) -> tuple[int, int, int]:
    """(kind, rank, payload length) of a frame header; ValueError if malformed."""
    kind, rank, length = FRAME_HEADER.unpack(data)
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    return kind, rank, length


DISTRIBUTIONS = ("block", "cyclic")


@dataclass(frozen=True, slots=True)
class StepLayout:
    """Which of the job's nodes run the step, how many tasks each, and which ranks:
    `block` puts consecutive ranks on one node, `cyclic` deals them round-robin."""

    nodes: tuple[str, ...]
    tasks_per_node: tuple[int, ...]
    distribution: str = "block"

    @property
    def ntasks(self) -> int:
        return sum(self.tasks_per_node)

    def ranks_of(self, index: int) -> tuple[int, ...]:
        if self.distribution == "cyclic":
            n = len(self.nodes)
            ranks: list[int] = []
            left = list(self.tasks_per_node)
            rank = 0
            while any(left):  # round-robin over the nodes that still take tasks
                for i in range(n):
                    if left[i]:
                        if i == index:
                            ranks.append(rank)
                        left[i] -= 1
                        rank += 1
            return tuple(ranks)
        first = sum(self.tasks_per_node[:index])
        return tuple(range(first, first + self.tasks_per_node[index]))

    def slurm_tasks_per_node(self) -> str:
        """`2(x3),1`: Slurm's compressed SLURM_TASKS_PER_NODE form."""
        out: list[str] = []
        i = 0
        counts = self.tasks_per_node
        while i < len(counts):
            j = i
            while j + 1 < len(counts) and counts[j + 1] == counts[i]:
                j += 1
            out.append(str(counts[i]) if j == i else f"{counts[i]}(x{j - i + 1})")
            i = j + 1
        return ",".join(out)


def plan_step(job_nodes: tuple[str, ...], cpus_per_node: int, *, ntasks: int | None,
              nodes: int | None, cpus_per_task: int, overcommit: bool = False,
              nodelist: tuple[str, ...] | None = None,
              distribution: str = "block") -> StepLayout:
    """Lay out a step inside an allocation, or raise InvalidRequest naming the limit.

    Without `ntasks`, one task per node used; without `nodes`, as few nodes as hold
    the tasks (all of them when `ntasks` is unset too). `nodelist`: run on these
    nodes of the job (in the job's order), all of them.
    """
    if distribution not in DISTRIBUTIONS:
        raise InvalidRequest(f"distribution: {distribution!r} is not one of "
                             f"{', '.join(DISTRIBUTIONS)}")
    if nodelist:
        outside = [n for n in nodelist if n not in job_nodes]
        if outside:
            raise InvalidRequest(f"nodelist: {', '.join(outside)} not in the job's nodes "
                                 f"({', '.join(job_nodes)})")
        if nodes is not None and nodes != len(set(nodelist)):
            raise InvalidRequest(f"nodes: {nodes} does not match the {len(set(nodelist))} "
                                 "node(s) of nodelist")
        job_nodes = tuple(n for n in job_nodes if n in nodelist)
        nodes = len(job_nodes)
    counts = _counts(len(job_nodes), cpus_per_node, ntasks=ntasks, nodes=nodes,
                     cpus_per_task=cpus_per_task, overcommit=overcommit)
    return StepLayout(job_nodes[:len(counts)], counts, distribution)


def _counts(have: int, cpus_per_node: int, *, ntasks: int | None, nodes: int | None,
            cpus_per_task: int, overcommit: bool) -> tuple[int, ...]:
    """How many tasks on each of the first nodes of the `have` the job holds."""
    if cpus_per_task < 1:
        raise InvalidRequest(f"cpus_per_task: {cpus_per_task} is below 1")
    if nodes is not None and not 1 <= nodes <= have:
        raise InvalidRequest(f"nodes: the step asks {nodes} nodes; the job has {have}")
    if ntasks is not None and not 1 <= ntasks <= MAX_TASKS:
        raise InvalidRequest(f"ntasks: {ntasks} is outside 1..{MAX_TASKS}")
    per_node_cap = max(1, cpus_per_node // cpus_per_task)
    if ntasks is None:
        return (1,) * (nodes if nodes is not None else have)
    if nodes is None:
        nodes = min(have, -(-ntasks // per_node_cap)) if not overcommit else 1
        nodes = max(nodes, 1)
    if ntasks < nodes:
        raise InvalidRequest(f"ntasks: {ntasks} tasks cannot cover {nodes} nodes")
    base, extra = divmod(ntasks, nodes)
    counts = tuple(base + (1 if i < extra else 0) for i in range(nodes))
    if not overcommit and counts[0] * cpus_per_task > cpus_per_node:
        raise InvalidRequest(
            f"ntasks: {ntasks} tasks x {cpus_per_task} CPUs on {nodes} node(s) needs "
            f"{counts[0] * cpus_per_task} CPUs on a node; the job has {cpus_per_node} per node")
    return counts


def expand_task_path(pattern: str, *, job_id: int, step_id: int, rank: int, node_index: int,
                     node: str, user: str, name: str, array_job_id: int | None = None,
                     array_task_id: int | None = None) -> str:
    """srun's per-task output names: %j %J %s %t %n %N %u %x %A %a %%."""
    return fill_pattern(pattern, {
        "j": str(job_id), "J": f"{job_id}.{step_id}", "s": str(step_id), "t": str(rank),
        "n": str(node_index), "N": node, "u": user, "x": name,
        "A": str(array_job_id if array_job_id is not None else job_id),
        "a": str(array_task_id if array_task_id is not None else 0), "%": "%"})
