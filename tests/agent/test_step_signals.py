"""Step signals on the agent: a cancel's delayed SIGKILL reaches only the steps that
were running when the cancel came, never a later run's steps of the same job."""

from __future__ import annotations

import asyncio
import signal

from corral.agent.protocol import StepLaunch
from corral.agent.steps import RunningStep, StepRunner, Task


def _launch(job_id: int, step_id: int) -> StepLaunch:
    return StepLaunch(job_id=job_id, step_id=step_id, name="t", user="root", uid=0, gid=0,
                      argv=("sleep", "30"), working_dir="/", environment={}, ranks=(0,),
                      node_index=0, step_nodes=("n",), tasks_per_node="1", ntasks=1,
                      cpus_per_task=1, io_host=None, io_port=0, io_key="k", stdout=None,
                      stderr=None, stdin="none")


async def _step(job_id: int, step_id: int) -> RunningStep:
    proc = await asyncio.create_subprocess_exec("sleep", "30", start_new_session=True)
    return RunningStep(_launch(job_id, step_id), tasks=[Task(0, proc)])


def test_the_grace_kill_spares_a_later_run_of_the_same_job() -> None:
    async def scenario() -> tuple[int | None, int | None]:
        runner = StepRunner("n", "a", "127.0.0.1")
        old = await _step(7, 0)
        # the old step ignores SIGTERM (as submitit's requeue handler does)
        runner.steps[old.key] = old
        for task in old.tasks:
            task.proc.send_signal(signal.SIGSTOP)  # stopped: SIGTERM stays pending
        assert runner.terminate(7, signal.SIGTERM, 0.3) == 1
        await asyncio.wait_for(old.tasks[0].proc.wait(), 5)
        del runner.steps[old.key]
        new = await _step(7, 0)  # the requeued run's step 0
        runner.steps[new.key] = new
        await asyncio.sleep(0.6)  # past the old cancel's grace period
        alive = new.tasks[0].proc.returncode
        runner.kill_job(7)
        await asyncio.wait_for(new.tasks[0].proc.wait(), 5)
        return old.tasks[0].proc.returncode, alive

    old_rc, new_rc_during_grace = asyncio.run(scenario())
    assert old_rc is not None and old_rc < 0  # the old step ended by a signal
    assert new_rc_during_grace is None  # the new run's step was still running
