"""Arrays, dependencies, begin times and warning signals, end to end."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from tests.e2e.cluster import FINAL, Cluster


def _wait_all(cluster: Cluster, ids: list[int], timeout_s: float = 30) -> list[dict]:
    return [cluster.wait(i, timeout_s=timeout_s) for i in ids]


def test_array_tasks_have_their_own_ids_records_and_environment(cluster: Cluster) -> None:
    out = cluster.state.parent / "arr"
    out.mkdir()
    out.chmod(0o777)
    proc = cluster.corral(
        "submit", "--json", "-a", "1,3,5-9:2%2", "-o", str(out / "%A_%a.out"), "--wrap",
        "echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_MIN "
        "$SLURM_ARRAY_TASK_MAX $SLURM_ARRAY_TASK_COUNT $CORRAL_JOB_ID; sleep 0.3")
    answer = json.loads(proc.stdout)
    ids, first = answer["ids"], answer["id"]
    assert len(ids) == 5 and min(ids) == first and ids[-1] == first
    jobs = _wait_all(cluster, ids)
    assert [j["state"] for j in jobs] == ["COMPLETED"] * 5
    assert [j["array_task_id"] for j in jobs] == [1, 3, 5, 7, 9]
    assert {j["array_job_id"] for j in jobs} == {first}
    assert [j["display_id"] for j in jobs] == [f"{first}_{t}" for t in (1, 3, 5, 7, 9)]
    for j in jobs:
        text = (out / f"{first}_{j['array_task_id']}.out").read_text().split()
        assert text == [str(first), str(j["array_task_id"]), "1", "9", "5", str(j["id"])]
    # the %2 throttle: never more than 2 tasks at once, read from the event log
    timeline = []
    with cluster.client() as c:
        for i in ids:
            for e in c.events(i):
                if e["to_state"] == "RUNNING":
                    timeline.append((e["seq"], 1))
                elif e["to_state"] in FINAL:
                    timeline.append((e["seq"], -1))
        listed = c.jobs(array=[str(first)])
    assert sorted(j["id"] for j in listed) == sorted(ids)
    running = peak = 0
    for _, d in sorted(timeline):
        running += d
        peak = max(peak, running)
    assert peak <= 2


def test_dependencies(cluster: Cluster) -> None:
    sub = lambda *a: int(cluster.corral("submit", "--parsable", *a).stdout)  # noqa: E731
    first = sub("--wrap", "sleep 3; exit 1")
    ok = sub("-d", f"afterok:{first}", "--wrap", "true")
    kept = sub("-d", f"afterok:{first}", "--kill-on-invalid-dep", "no", "--wrap", "true")
    notok = sub("-d", f"afternotok:{first}", "--wrap", "echo ran")
    anyway = sub("-d", f"afterany:{first}", "--wrap", "true")
    with cluster.client() as c:
        waiting = c.job(ok)
        first_runs = c.job(first)["state"] == "RUNNING"
    if first_runs:  # only then is the reason certain
        assert waiting["reason"] in ("Dependency", "None")
    assert cluster.wait(first)["state"] == "FAILED"
    j = cluster.wait(ok)
    assert j["state"] == "FAILED" and j["exit_code"] is None and j["t_start"] is None
    assert cluster.wait(notok)["state"] == "COMPLETED"
    assert cluster.wait(anyway)["state"] == "COMPLETED"
    job = cluster.wait_state(kept, {"X"}, timeout_s=1)
    assert job["state"] == "PENDING" and job["reason"] == "DependencyNeverSatisfied"
    evs = json.loads(cluster.corral("events", str(ok), "--json").stdout)["events"]
    assert evs[-1]["data"]["why"] == "dependency can never be satisfied"
    cluster.corral("cancel", str(kept))
    proc = cluster.corral("submit", "-d", "afterok:987654", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "987654 does not exist" in proc.stderr
    proc = cluster.corral("submit", "-d", "aftr:1", "--wrap", "true", check=False)
    assert proc.returncode == 2 and "'aftr'" in proc.stderr  # badly formed: a usage error


def test_dependency_on_a_whole_array_and_singleton(cluster: Cluster) -> None:
    ids = json.loads(cluster.corral("submit", "--json", "-a", "0-2", "--wrap", "sleep 0.5")
                     .stdout)["ids"]
    after = int(cluster.corral("submit", "--parsable", "-d", f"afterok:{min(ids)}", "--wrap",
                               "true").stdout)
    single = [int(cluster.corral("submit", "--parsable", "-J", "solo", "-d", "singleton",
                                 "--wrap", "sleep 0.3").stdout) for _ in range(3)]
    done = cluster.wait(after)
    ends = [cluster.wait(i)["t_end"] for i in ids]
    assert done["state"] == "COMPLETED" and done["t_start"] >= max(ends)
    solo = [cluster.wait(i) for i in single]
    for a, b in itertools.pairwise(solo):
        assert b["t_start"] >= a["t_end"]


def test_begin_time_and_warning_signal(cluster: Cluster, tmp_path: Path) -> None:
    t0 = time.time()
    later = int(cluster.corral("submit", "--parsable", "--begin", "now+2", "--wrap",
                               "true").stdout)
    with cluster.client() as c:
        time.sleep(0.5)
        assert c.job(later)["state"] == "PENDING"
        assert c.job(later)["reason"] == "BeginTime"
    assert cluster.wait(later)["t_start"] >= t0 + 2
    marker = cluster.state.parent / "got-signal"
    script = ("trap 'echo warned > " + str(marker) + "; exit 0' USR1\n"
              "for i in $(seq 100); do sleep 0.1; done\n")
    job_id = int(cluster.corral("submit", "--parsable", "-t", "0:05", "--signal", "B:USR1@3",
                                "--wrap", script).stdout)
    job = cluster.wait(job_id)
    assert job["state"] == "COMPLETED", job
    assert marker.read_text().strip() == "warned"
    assert job["t_end"] - job["t_start"] < 4.5
