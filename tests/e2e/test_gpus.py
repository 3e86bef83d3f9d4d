"""A node configured with (fake) GPUs: jobs see the devices allocated to them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.e2e.cluster import make_cluster


def test_jobs_on_a_gpu_node_see_their_own_devices(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-e2e-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=4, extra_config="gpus = 3")
    try:
        assert c.corral("nodes", "--json").stdout.count('"gpus": 3') == 1
        ids = []
        for i in range(2):
            out = tmp_path / f"{i}.out"
            ids.append(int(c.corral(
                "submit", "--parsable", "--gpus", str(2 - i), "-o", str(out), "--wrap",
                "echo $CUDA_VISIBLE_DEVICES $SLURM_JOB_GPUS; sleep 2").stdout))
        for job_id in ids:
            assert c.wait(job_id)["state"] == "COMPLETED"
        seen = [(tmp_path / f"{i}.out").read_text().split() for i in range(2)]
        assert seen == [["0,1", "0,1"], ["2", "2"]]  # ran together, on different devices
        assert c.show(ids[1])["gpu_ids"] == {"node1": [2]}
        proc = c.corral("submit", "--gpus", "4", "--wrap", "true", check=False)
        assert proc.returncode == 1 and "asks 4 GPUs per node" in proc.stderr
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
