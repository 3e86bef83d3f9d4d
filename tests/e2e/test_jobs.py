"""End to end: real controller, real agent, real processes (issue: foundation)."""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.e2e.cluster import FINAL, Cluster


def test_echo_hi_completes_within_a_second(cluster: Cluster) -> None:
    out = cluster.corral("submit", "--wrap", "echo hi", "--parsable").stdout.strip()
    job_id = int(out)
    t0 = time.monotonic()
    job = cluster.wait_state(job_id, FINAL, timeout_s=5)
    assert time.monotonic() - t0 < 1.0, job
    job = cluster.show(job_id)
    assert job["state"] == "COMPLETED"
    assert job["exit_code"] == 0
    assert Path(job["stdout"]).read_text() == "hi\n"
    assert Path(job["stdout"]) == cluster.state / f"corral-{job_id}.out"


def test_job_environment_and_patterns(cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "env.sh"
    script.write_text("#!/bin/bash\n#CORRAL -J envjob\n#CORRAL -o out-%x-%j.txt\n"
                      "echo $CORRAL_JOB_ID $CORRAL_JOB_NAME $CORRAL_NODELIST "
                      "$CORRAL_CPUS_ON_NODE $CORRAL_SUBMIT_DIR $MY_VAR \"$1\"\n")
    env_extra = dict(cluster.env, MY_VAR="from-submit")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "corral.cli", "submit", "--parsable",
                           "-c", "2", str(script), "an arg"], env=env_extra, cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    job_id = int(proc.stdout)
    script.unlink()  # the script was copied at submit
    job = cluster.wait(job_id)
    assert job["state"] == "COMPLETED", job
    out = (tmp_path / f"out-envjob-{job_id}.txt").read_text().split()
    assert out == [str(job_id), "envjob", "node1", "2", str(tmp_path), "from-submit",
                   "an", "arg"]


def test_two_hundred_jobs_never_more_than_two_at_once(cluster: Cluster) -> None:
    with cluster.client() as c:
        ids = [c.submit(name=f"j{i}", working_dir=str(cluster.state), argv=["true"],
                        stdout="/dev/null") for i in range(200)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = {j["id"]: j["state"] for j in c.jobs(history=True, limit=1000)}
            if all(states.get(i) in FINAL for i in ids):
                break
            time.sleep(0.25)
        assert all(states[i] == "COMPLETED" for i in ids), states
        timeline = []
        for i in ids:
            evs = c.events(i)
            kinds = [(e["kind"], e["to_state"]) for e in evs]
            assert kinds == [("submit", "PENDING"), ("state", "RUNNING"),
                             ("state", "COMPLETED")], kinds
            timeline += [(evs[1]["seq"], +1), (evs[2]["seq"], -1)]
    running = peak = 0
    for _, delta in sorted(timeline):
        running += delta
        peak = max(peak, running)
    assert peak == 2


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_cancel_kills_the_whole_tree(cluster: Cluster, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (f"sleep 3131 &\n(setsid sleep 3132 &)\nbash -c 'sleep 3133' &\n"
              f"touch {ready}\nwait\n")
    job_id = int(cluster.corral("submit", "--parsable", "--wrap", script).stdout)
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert len(_marked("313")) >= 3
    cluster.corral("cancel", str(job_id))
    job = cluster.wait(job_id)
    assert job["state"] == "CANCELLED"
    deadline = time.monotonic() + 5
    while _marked("313") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _marked("313") == []


@pytest.mark.parametrize(
    ("args", "state", "exit_code", "signal"),
    [
        (["-t", "0:02", "--wrap", "sleep 60"], "TIMEOUT", None, None),
        (["--mem", "60M", "--wrap",
          "python3 -c 'import time; x = bytearray(400*1024*1024); time.sleep(30)'"],
         "OUT_OF_MEMORY", None, None),
        (["--wrap", "exit 3"], "FAILED", 3, None),
        (["--wrap", "kill -USR1 $$"], "FAILED", None, 10),
    ],
    ids=["timeout", "oom", "exit3", "signal"],
)
def test_job_endings(cluster: Cluster, args: list[str], state: str, exit_code: int | None,
                     signal: int | None) -> None:
    job_id = int(cluster.corral("submit", "--parsable", *args).stdout)
    job = cluster.wait(job_id, timeout_s=30)
    assert job["state"] == state, job
    if exit_code is not None:
        assert job["exit_code"] == exit_code
    if signal is not None:
        assert job["signal"] == signal
    if state == "TIMEOUT":
        assert 2 <= job["t_end"] - job["t_start"] < 6


def test_submit_wait_exits_with_the_jobs_code(cluster: Cluster) -> None:
    proc = cluster.corral("submit", "--wait", "--wrap", "exit 7", check=False)
    assert proc.returncode == 7
    assert "FAILED" in proc.stderr


def test_refusals_are_one_line_and_quote_the_numbers(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.corral("submit", "-c", "64", "--wrap", "true", check=False)
    assert proc.returncode == 1
    assert "asks 64 CPUs per node; the largest node in partition 'main' has 2" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    proc = cluster.corral("submit", "--mem", "100T", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "MB of memory" in proc.stderr

    proc = cluster.corral("submit", "-p", "nosuch", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "'nosuch'" in proc.stderr

    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\n#CORRAL -J ok\n#CORRAL --bogus 3\necho\n")
    proc = cluster.corral("submit", str(bad), check=False)
    assert proc.returncode == 2
    assert "line 3" in proc.stderr and "--bogus" in proc.stderr

    proc = cluster.corral("submit", "-t", "9-99:99", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "time" in proc.stderr

    proc = cluster.corral("show", "999999", check=False)
    assert proc.returncode == 1 and "999999" in proc.stderr
    with cluster.client() as c:
        assert c.jobs(history=True) == []  # nothing refused was stored


def test_hold_release_requeue_update_and_events(cluster: Cluster) -> None:
    job_id = int(cluster.corral("submit", "--parsable", "-H", "--wrap", "echo x").stdout)
    assert cluster.show(job_id)["state"] == "HELD"
    cluster.corral("update", str(job_id), "-J", "renamed", "-t", "5")
    job = cluster.show(job_id)
    assert job["name"] == "renamed" and job["time_limit_s"] == 300
    cluster.corral("release", str(job_id))
    assert cluster.wait(job_id)["state"] == "COMPLETED"
    cluster.corral("requeue", str(job_id))
    job = cluster.wait(job_id)
    assert job["state"] == "COMPLETED" and job["restarts"] == 1
    env_id = int(cluster.corral("submit", "--parsable", "--wrap",
                                "echo $SLURM_RESTART_COUNT $SLURMD_NODENAME").stdout)
    cluster.wait(env_id)
    assert Path(cluster.show(env_id)["stdout"]).read_text().split() == ["0", "node1"]
    evs = json.loads(cluster.corral("events", str(job_id), "--json").stdout)["events"]
    kinds = [e["kind"] for e in evs]
    assert kinds[0] == "submit" and "hold" not in kinds and "release" in kinds
    assert "requeue" in kinds and "update" in kinds
    table = cluster.corral("events", str(job_id)).stdout
    assert "requeue" in table
    # a finished job cannot be held
    proc = cluster.corral("hold", str(job_id), check=False)
    assert proc.returncode == 1 and "pending" in proc.stderr


def test_read_commands_have_tables_and_json(cluster: Cluster) -> None:
    job_id = int(cluster.corral("submit", "--parsable", "--wrap", "sleep 60").stdout)
    cluster.wait_state(job_id, {"RUNNING"})
    table = cluster.corral("jobs").stdout
    assert "JOBID" in table and str(job_id) in table and " R " in table
    data = json.loads(cluster.corral("jobs", "--json").stdout)
    assert [j["id"] for j in data["jobs"]] == [job_id]
    nodes = json.loads(cluster.corral("nodes", "--json").stdout)["nodes"]
    assert nodes[0]["name"] == "node1" and nodes[0]["state"] in ("MIXED", "ALLOCATED")
    assert "node1" in cluster.corral("nodes").stdout
    assert "main*" in cluster.corral("partitions").stdout
    status = json.loads(cluster.corral("status", "--json").stdout)
    assert status["jobs"] == {"RUNNING": 1}
    cluster.corral("cancel", str(job_id))
    assert cluster.wait(job_id)["state"] == "CANCELLED"
    # cancelling a finished job is not an error
    cluster.corral("cancel", str(job_id))


def test_up_is_idempotent(cluster: Cluster) -> None:
    out = cluster.corral("up", "--node", "node1").stdout
    assert "already running" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run jobs as another user")
def test_job_runs_as_its_owner(cluster: Cluster) -> None:
    outdir = cluster.state.parent / "nobody"
    outdir.mkdir()
    outdir.chmod(0o777)
    nobody = pwd.getpwnam("nobody")
    job_id = int(cluster.corral("submit", "--parsable", "--user", "nobody", "-D", str(outdir),
                                "-o", "out.txt", "--wrap", "id -u").stdout)
    job = cluster.wait(job_id)
    assert job["state"] == "COMPLETED", job
    assert job["user"] == "nobody" and job["uid"] == nobody.pw_uid
    assert (outdir / "out.txt").read_text().strip() == str(nobody.pw_uid)
    assert (outdir / "out.txt").stat().st_uid == nobody.pw_uid


def test_memory_as_a_scheduling_hint_only() -> None:
    """controller.enforce_memory = false: the request places the job, nothing kills it."""
    import shutil
    import tempfile

    from tests.e2e.cluster import make_cluster

    root = Path(tempfile.mkdtemp(prefix="corral-e2e-"))
    root.chmod(0o755)
    c = make_cluster(root, controller_config="enforce_memory = false\n")
    try:
        job_id = int(c.corral("submit", "--parsable", "--mem", "60M", "--wrap",
                              "python3 -c 'import time; x = bytearray(400*1024*1024); "
                              "time.sleep(1.5); print(len(x))'"
                              ).stdout)
        job = c.wait(job_id)
        assert job["state"] == "COMPLETED", job
        assert job["mem_mb_per_node"] == 60  # still what the scheduler counted
        assert (job["max_rss_mb"] or 0) > 300, job
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def test_jobs_that_requeue_themselves_all_run_again(cluster: Cluster) -> None:
    """Each job asks for its own requeue, then ends at once: the end's report and the
    new run's launch reach the agent in either order, and every job still finishes."""
    script = (f'if [ "$CORRAL_RESTART_COUNT" = 0 ]; then {sys.executable} -m corral.cli '
              'requeue "$CORRAL_JOB_ID"; exit 0; fi; echo "run $CORRAL_RESTART_COUNT"')
    ids = [int(cluster.corral("submit", "--parsable", "--wrap", script).stdout)
           for _ in range(8)]
    for job_id in ids:
        job = cluster.wait(job_id, timeout_s=60)
        assert (job["state"], job["restarts"]) == ("COMPLETED", 1), job
        assert Path(job["stdout"]).read_text() == "run 1\n"
