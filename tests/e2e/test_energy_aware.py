"""Energy-aware placement end to end on a recorded hybrid CPU (i7-1370P: CPUs 0-11
performance, 12-19 efficiency; CORRAL_TOPOLOGY_ROOT): with [scheduler] energy_aware,
low-priority work runs on efficiency cores, other work as before."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from corral.agent.topology import parse_cpulist
from tests.e2e.cluster import make_cluster

HYBRID = Path(__file__).parent.parent / "agent" / "data" / "topology" / "hybrid-i7-1370p"


def _cpus(path: Path, timeout_s: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return set(parse_cpulist(path.read_text()))
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def test_low_priority_work_runs_on_efficiency_cores(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-energy-aware-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=20, scheduler_config="energy_aware = true",
                     env_extra={"CORRAL_TOPOLOGY_ROOT": str(HYBRID)})
    try:
        ids = []
        for name, nice in (("low", "10"), ("normal", "0")):
            ids.append(int(c.corral(
                "submit", "--parsable", "-c", "2", "--nice", nice, "-o", "/dev/null",
                "--wrap", f"echo $CORRAL_JOB_CPUS > {tmp_path / name}").stdout))
        for job_id in ids:
            assert c.wait(job_id)["state"] == "COMPLETED"
        assert _cpus(tmp_path / "low") <= set(range(12, 20))
        assert _cpus(tmp_path / "normal") <= set(range(12))
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
