"""The launcher binds a job to the CPUs the allocator chose: its cgroup's cpuset.cpus
(where it has a cgroup) and its affinity; the CPUs are free again at its end, and a
map_cpu it cannot have fails the start with the CPU named."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from corral.agent.binding import CpuAllocator
from corral.agent.cgroup import CgroupManager
from corral.agent.launcher import Launcher
from corral.agent.protocol import JobReport
from corral.agent.topology import detect
from tests.agent.conftest import AGENT_ID, make_launch

SHOW = "grep Cpus_allowed_list /proc/self/status | cut -f2; echo $CORRAL_JOB_CPUS"


def _wait(done: list[JobReport], n: int) -> asyncio.Future[None]:
    async def wait() -> None:
        deadline = time.monotonic() + 15
        while len(done) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    return asyncio.ensure_future(wait())


def test_bound_in_cgroup_and_affinity_then_freed(tmp_path: Path, spool: Path,
                                                 outdir: Path) -> None:
    top = detect()
    assert top is not None
    last = max(c.id for c in top.cpus)
    cg_base = tmp_path / "cg"
    (cg_base / "job41-x").mkdir(parents=True)
    (cg_base / "job41-x" / "cpuset.cpus").write_text("")  # a cpuset controller is there

    async def main() -> list[JobReport]:
        done: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, done.append, cgroups=CgroupManager(cg_base, "x"))
        launcher.cpu_alloc = alloc = CpuAllocator(top)
        launcher.launch(make_launch(41, outdir, argv=["sh", "-c", SHOW],
                                    cpu_bind=f"map_cpu:{last}"))
        assert alloc.held == {41: (last,)}
        assert (cg_base / "job41-x" / "cpuset.cpus").read_text() == f"{last}\n"
        await _wait(done, 1)
        assert alloc.held == {}  # ended: free again
        launcher.cpu_alloc.take(7, 1, cpu_bind=f"map_cpu:{last}")  # another job has it
        launcher.launch(make_launch(42, outdir, argv=["true"], cpu_bind=f"map_cpu:{last}"))
        await _wait(done, 2)
        await launcher.close()
        return done

    first, refused = asyncio.run(main())
    assert (first.state, first.exit_code) == ("COMPLETED", 0)
    assert (outdir / "41.out").read_text().split() == [str(last), str(last)]
    assert refused.state == "FAILED"
    assert refused.message == f"cpu_bind: CPU {last} is held by job 7"
    assert os.sched_getaffinity(0) == {c.id for c in top.cpus}  # the agent is not bound
