"""A predicting policy learns the runtimes of the jobs that ended before the
controller started (Scheduler.learn_runtimes, from the store's records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.sched import LearnedPredictor, Predictive
from corral.sched.predict import RuntimePredictor
from corral.services.accounting import load_finished
from tests.api.harness import Ctx, run

CONFIG = """
[scheduler]
policy = "predictive"
{extra}

[[partitions]]
name = "main"
default = true
"""
T0 = 1_700_000_000.0


def _ended(i: int, user: str, limit_s: int, run_s: float, start: float) -> Job:
    spec = JobSpec(name=f"h{i}", working_dir="/tmp", argv=("true",), partition="main",
                   time_limit_s=limit_s)
    return Job(id=0, spec=spec, user=user, uid=1000, gid=1000, state=JobState.COMPLETED,
               t_submit=start - 5, partition="main", time_limit_s=limit_s,
               mem_mb_per_node=None, t_start=start, t_end=start + run_s, nodes=("n1",),
               exit_code=0)


def _history() -> list[Job]:
    """300 jobs asking an hour: a's run about 100 s, b's about 3,000 s; the last
    three to end are a's: 100, 300, 50 s."""
    jobs = []
    for i in range(297):
        user, base = ("a", 100.0) if i % 2 else ("b", 3000.0)
        run_s = base * (0.9 + 0.2 * ((i * 7) % 11) / 10)
        jobs.append(_ended(i, user, 3600, run_s, T0 + 10.0 * i))
    jobs += [_ended(297 + k, "a", 3600, run_s, T0 + 10_000.0 * (k + 1))
             for k, run_s in enumerate((100.0, 300.0, 50.0))]
    return jobs[::-1]  # stored in another order than they ended


@pytest.mark.parametrize(("backend", "predictor"),
                         [("sqlite", "learned"), ("postgresql", "learned"),
                          ("sqlite", "recent")])
def test_a_restarted_controller_predicts_from_the_jobs_that_ended_before(
        tmp_path: Path, backend: str, predictor: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        policy = ctx.ctl.scheduler.policy
        assert isinstance(policy, Predictive)
        assert policy.predictor.predict("a", 3600.0) == 3600.0  # nothing known yet
        with ctx.ctl.engine.begin() as conn:
            load_finished(conn, _history(), {})
        await ctx.restart()
        policy = ctx.ctl.scheduler.policy
        assert isinstance(policy, Predictive)
        p = policy.predictor
        assert type(p) is (LearnedPredictor if predictor == "learned" else RuntimePredictor)
        if isinstance(p, LearnedPredictor):
            assert (p.n_recorded, p.n_fits) == (300, 1)  # fitted at the 200th
            assert 50.0 <= p.predict("a", 3600.0) <= 250.0
            assert 2000.0 <= p.predict("b", 3600.0) <= 3600.0
            assert 1.0 <= p.predict("c", 1800.0) <= 1800.0
        else:
            # the last two of a's runtimes, read back in the order they ended
            assert p.predict("a", 3600.0) == 175.0
            assert p.predict("c", 3600.0) == 175.0  # the request's last two
    extra = f'predictor = "{predictor}"' if predictor != "learned" else ""
    run(tmp_path, CONFIG.format(extra=extra), {"n1": {}}, scenario, backend=backend)
