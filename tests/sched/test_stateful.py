"""A controller loop driven by Hypothesis: submit, run cycles, let jobs end
early, check the invariants after every step."""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from corral.sched import (
    EASY,
    Conservative,
    EasyPlusPlus,
    NodeView,
    PartitionView,
    PendingView,
    Policy,
    RunningView,
    Snapshot,
    run_cycle,
)

CAP = (4, 8000, 1)  # cpus, mem_mb, gpus per node
N_NODES = 3


class Loop(RuleBasedStateMachine):
    policy: Policy

    @initialize(policy=st.sampled_from([EASY, Conservative, EasyPlusPlus]))
    def setup(self, policy: type[Policy]) -> None:
        self.policy = policy()
        self.now = 0.0
        self.next_id = 1
        self.free = {f"n{i}": list(CAP) for i in range(N_NODES)}
        self.pending: list[PendingView] = []
        self.running: dict[int, tuple[RunningView, float, str]] = {}  # view, real end, user
        self.head: tuple[int, float] | None = None  # (job, expected start) last cycle

    def snapshot(self) -> Snapshot:
        nodes = tuple(NodeView(n, *CAP, frozenset(), *f, True) for n, f in self.free.items())
        part = PartitionView("p", frozenset(self.free), 0.0)
        return Snapshot(
            nodes, tuple(v for v, _, _ in self.running.values()), tuple(self.pending), {"p": part}
        )

    @rule(
        nodes=st.integers(1, 3),
        cpus=st.integers(1, 4),
        mem=st.sampled_from([0, 3000, 8000]),
        gpus=st.integers(0, 1),
        limit=st.sampled_from([10.0, 30.0, 100.0]),
        user=st.sampled_from(["u", "v"]),
    )
    def submit(self, nodes: int, cpus: int, mem: int, gpus: int, limit: float, user: str) -> None:
        self.pending.append(
            PendingView(self.next_id, user, None, "p", nodes, cpus, mem, gpus, limit, self.now)
        )
        self.next_id += 1

    @rule()
    def cycle(self) -> None:
        d = run_cycle(self.snapshot(), self.policy, self.now)
        byid = {p.job_id: p for p in self.pending}
        for s in d.starts:
            p = byid.pop(s.job_id)
            for n in s.nodes:
                f = self.free[n]
                f[0] -= p.cpus_per_node
                f[1] -= p.mem_mb_per_node
                f[2] -= p.gpus_per_node
            view = RunningView(
                p.job_id,
                s.nodes,
                p.cpus_per_node,
                p.mem_mb_per_node,
                p.gpus_per_node,
                self.now,
                self.now + p.time_limit_s,
                user=p.user,
            )
            real_end = self.now + p.time_limit_s * (0.5 if p.job_id % 2 else 1.0)
            self.running[p.job_id] = (view, real_end, p.user)
        self.pending = list(byid.values())
        assert set(d.pending) == set(byid)
        heads = [i for i in d.pending.values() if i.reason == "Resources"]
        # EASY and conservative never push the head's reservation back (EASY++
        # may: a job backfilled on a too-short prediction can run past it).
        keeps_promise = not self.policy.uses_predictions
        if keeps_promise and self.head is not None and heads and heads[0].job_id == self.head[0]:
            t_new = heads[0].t_expected_start
            # (a job at its planned end but not yet reported finished is
            # planned to end just after now: allow that last-bit difference)
            assert t_new is not None and t_new <= self.head[1] + 1e-6, (t_new, self.head)
        self.head = None
        if heads and heads[0].t_expected_start is not None:
            self.head = (heads[0].job_id, heads[0].t_expected_start)

    @precondition(lambda self: bool(self.running))
    @rule()
    def next_end(self) -> None:
        jid = min(self.running, key=lambda j: (self.running[j][1], j))
        view, real_end, user = self.running.pop(jid)
        self.now = max(self.now, real_end)
        for n in view.nodes:
            f = self.free[n]
            f[0] += view.cpus_per_node
            f[1] += view.mem_mb_per_node
            f[2] += view.gpus_per_node
        self.policy.record_finish(user, real_end - view.t_start)

    @invariant()
    def never_over_allocated(self) -> None:
        for f in self.free.values():
            assert all(x >= 0 for x in f), self.free
            assert f[0] <= CAP[0] and f[1] <= CAP[1] and f[2] <= CAP[2]

    @invariant()
    def running_jobs_end_in_the_future_or_now(self) -> None:
        for _view, real_end, _ in self.running.values():
            assert real_end >= self.now - 1e-9 and not math.isnan(real_end)


Loop.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestLoop = Loop.TestCase
