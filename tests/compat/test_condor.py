"""HTCondor front ends (condor_submit, condor_q, condor_history, condor_rm,
condor_hold, condor_release, condor_status) against a real corral."""

from __future__ import annotations

import re
import time

from tests.compat.conftest import Compat

SUBMITTED = re.compile(r"Submitting job\(s\)(\.+)\n(\d+) job\(s\) submitted to cluster (\d+)\.\n")


def _cluster(out: str, n: int) -> int:
    m = SUBMITTED.fullmatch(out)
    assert m, out
    assert len(m.group(1)) == n and int(m.group(2)) == n
    return int(m.group(3))


def _wait_cluster(compat: Compat, cluster: int, n: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        with compat.cluster.client() as c:
            jobs = [j for j in c.jobs(history=True, expand_arrays=True)
                    if (j.get("array_job_id") or j["id"]) == cluster]
        done = [j for j in jobs if j["state"] in ("COMPLETED", "FAILED", "CANCELLED")]
        if len(done) == n:
            return sorted(done, key=lambda j: j.get("array_task_id") or 0)
        assert time.monotonic() < deadline, jobs
        time.sleep(0.2)


def test_queue_n_with_process_and_cluster_macros(compat: Compat) -> None:
    (compat.work / "three.sub").write_text(
        "# three echoes\nuniverse = vanilla\nexecutable = /bin/echo\n"
        'arguments = "job $(Process) of $(Cluster) \'two words\'"\n'
        "output = three.$(Cluster).$(Process).out\nerror = three.$(ClusterId).err\n"
        "log = three.log\nrequest_cpus = 1\nrequest_memory = 100 MB\nqueue 3\n")
    p = compat.run("condor_submit", "three.sub")
    assert p.stderr == ("WARNING: log: corral does not write HTCondor's job event log "
                        "(condor_q and condor_history show the jobs)\n")
    cluster = _cluster(p.stdout, 3)
    jobs = _wait_cluster(compat, cluster, 3)
    assert all(j["state"] == "COMPLETED" and j["mem_mb_per_node"] == 100 for j in jobs)
    for i in range(3):
        assert (compat.work / f"three.{cluster}.{i}.out").read_text() == (
            f"job {i} of {cluster} two words\n")
    # -af takes every argument after it that is not an option, as HTCondor's does
    hist = compat.out("condor_history", str(cluster), "-af", "ClusterId", "ProcId",
                      "ExitCode", "JobStatus").splitlines()
    assert sorted(hist) == [f"{cluster} {i} 0 4" for i in range(3)]
    rows = compat.out("condor_history", str(cluster)).splitlines()
    assert rows[0].split() == ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST", "COMPLETED",
                               "CMD"]
    assert {r.split()[0] for r in rows[1:]} == {f"{cluster}.{i}" for i in range(3)}
    assert all(r.split()[5] == "C" for r in rows[1:])


def test_queue_from_a_file_in_a_list_and_matching(compat: Compat) -> None:
    (compat.work / "items.txt").write_text("alpha, 1\nbeta, 2\n")
    (compat.work / "a.dat").write_text("")
    (compat.work / "b.dat").write_text("")
    (compat.work / "many.sub").write_text(
        "executable = /bin/sh\n"
        'arguments = "-c \'echo $(name) $(n) $(Step) $(Item)\'"\n'
        "output = many.$(Process).out\n"
        "queue name, n from items.txt\n"
        "queue 2 name in (gamma)\n"
        "queue name matching files *.dat\n")
    cluster = _cluster(compat.out("condor_submit", "many.sub"), 6)
    _wait_cluster(compat, cluster, 6)
    got = [(compat.work / f"many.{i}.out").read_text() for i in range(6)]
    assert got == ["alpha 1 0 alpha, 1\n", "beta 2 0 beta, 2\n", "gamma 0 gamma\n",
                   "gamma 1 gamma\n", "a.dat 0 a.dat\n", "b.dat 0 b.dat\n"]


def test_condor_q_hold_release_and_rm(compat: Compat) -> None:
    sub = ("executable = /bin/sleep\narguments = 30\nhold = true\n"
           "+ProjectName = \"x\"\nqueue 2\n")
    cluster = _cluster(compat.out("condor_submit", "-batch-name", "sleepers", input=sub), 2)
    out = compat.out("condor_q")
    assert "-- Schedd: " in out
    assert "OWNER BATCH_NAME    SUBMITTED   DONE   RUN    IDLE  TOTAL JOB_IDS" in out
    assert re.search(rf"ID: {cluster} .* 2 +2 {cluster}\.0-1\n", out), out
    assert "Total for query: 2 jobs; 0 completed, 0 removed, 0 idle, 0 running, 2 held" in out
    assert compat.out("condor_q", str(cluster), "-af", "ClusterId", "ProcId", "JobStatus",
                      "Owner").splitlines() == [f"{cluster} 0 5 root", f"{cluster} 1 5 root"]
    assert compat.out("condor_q", "-format", "%d.", "ClusterId", "-format", "%d\\n",
                      "ProcId", str(cluster)) == f"{cluster}.0\n{cluster}.1\n"
    long_text = compat.out("condor_q", "-long", f"{cluster}.1")
    assert f"ClusterId = {cluster}\n" in long_text and "ProcId = 1\n" in long_text
    assert 'Cmd = "/bin/sleep"' in long_text and "JobStatus = 5" in long_text
    assert compat.out("condor_q", str(cluster), "-constraint", "ProcId == 1",
                      "-af", "ProcId") == "1\n"
    nob = compat.out("condor_q", "-nobatch").splitlines()
    row = next(r for r in nob if r.strip().startswith(f"{cluster}.0"))
    assert row.split()[5] == "H" and row.split()[-2:] == ["sleep", "30"]
    assert compat.out("condor_release", f"{cluster}.0") == f"Job {cluster}.0 released\n"
    p = compat.run("condor_release", f"{cluster}.0", rc=1)
    assert p.stderr == f"Job {cluster}.0 not found\n"
    assert compat.out("condor_rm", str(cluster)) == (
        f"All jobs in cluster {cluster} have been marked for removal\n")
    _wait_cluster(compat, cluster, 2)
    assert compat.out("condor_q", str(cluster), "-af", "ClusterId") == ""
    assert {r.split()[5] for r in compat.out("condor_history", str(cluster)).splitlines()[1:]
            } == {"X"}
    p = compat.run("condor_rm", "999999", rc=1)
    assert p.stderr == "Couldn't find/rm all jobs in cluster 999999\n"


def test_requirements_and_status(compat: Compat) -> None:
    with compat.cluster.client() as c:
        nodes = c.nodes()
    cluster = _cluster(compat.out(
        "condor_submit", input="executable = /bin/true\nrequirements = Cpus >= 1\nqueue\n"), 1)
    assert _wait_cluster(compat, cluster, 1)[0]["state"] == "COMPLETED"
    p = compat.run("condor_submit", rc=1,
                   input="executable = /bin/true\nrequirements = Memory > 99999999\nqueue\n")
    assert p.stderr.startswith("ERROR: Failed to queue job: ") and "Memory" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    status = compat.out("condor_status")
    assert status.startswith("Name ") and "X86_64/LINUX" in status
    assert all(f"slot1@{n['name']}" in status for n in nodes)
    assert sorted(compat.out("condor_status", "-af", "Machine", "Cpus").splitlines()) == \
        sorted(f"{n['name']} {n['cpus']}" for n in nodes)


def test_submit_errors_are_one_line(compat: Compat) -> None:
    cases = [
        ("executable = /bin/true\n", "ERROR: no queue statement: nothing is submitted "
                                     "(end the file with `queue`)\n"),
        ("universe = docker\nexecutable = /bin/true\nqueue\n",
         "ERROR: universe: 'docker' is not run by corral (have: vanilla, local, scheduler; "
         "MPI jobs: sbatch -N/srun)\n"),
        ("executable = /bin/true\nrequest_memory = lots\nqueue\n",
         "ERROR: request_memory: 'lots' is not a size (e.g. 512, 2 GB)\n"),
        ("executable = nosuch-program\nqueue\n", None),
        ("executable = /bin/true\nrequest_cpus = $(n)\nqueue n in (1 2)\n",
         "ERROR: request_cpus differs between the jobs of one cluster: corral runs a "
         "cluster as one array, whose jobs ask the same\n"),
        ("executable = /bin/true\nthis is not a command\nqueue\n",
         "ERROR: line 2: 'this is not a command' is not a command (name = value) nor a "
         "queue statement\n"),
    ]
    for text, message in cases:
        p = compat.run("condor_submit", input=text, rc=1)
        if message is None:
            assert p.stderr == (f"ERROR: Executable file {compat.work}/nosuch-program "
                                "does not exist\n")
        else:
            assert p.stderr == message, (text, p.stderr)
    p = compat.run("condor_submit", "-bogus", rc=1)
    assert p.stderr.startswith("ERROR: Unknown option -bogus\n")


def test_condor_hold_a_queued_job_and_a_running_one(compat: Compat) -> None:
    # a queued job: held, then released
    sub = "executable = /bin/sleep\narguments = 30\nrequest_cpus = 4\nqueue\n"
    blocker = _cluster(compat.out("condor_submit", input=sub), 1)
    compat.cluster.wait_state(blocker, {"RUNNING"})
    queued = _cluster(compat.out("condor_submit", input=sub), 1)
    assert compat.out("condor_q", str(queued), "-af", "JobStatus") == "1\n"
    assert compat.out("condor_hold", f"{queued}.0") == f"Job {queued}.0 held\n"
    assert compat.out("condor_q", str(queued), "-af", "JobStatus", "HoldReason") == (
        "5 via condor_hold (by user root)\n")
    p = compat.run("condor_hold", f"{queued}.0", rc=1)  # held already
    assert p.stderr == f"Job {queued}.0 not found\n"
    assert compat.out("condor_release", str(queued)) == (
        f"All jobs in cluster {queued} have been released\n")
    assert compat.out("condor_q", str(queued), "-af", "JobStatus") == "1\n"
    # a running job: stopped and held, as HTCondor does (it does not run on)
    assert compat.out("condor_hold", str(blocker)) == (
        f"All jobs in cluster {blocker} have been held\n")
    compat.cluster.wait_state(blocker, {"HELD"})
    assert compat.out("condor_q", str(blocker), "-af", "JobStatus", "HoldReason") == (
        "5 via condor_hold (by user root)\n")
    # its process stopped: the node's 4 CPUs are free for the job released above
    compat.cluster.wait_state(queued, {"RUNNING"})
    assert compat.out("condor_rm", str(blocker)) == (
        f"All jobs in cluster {blocker} have been marked for removal\n")
    assert compat.out("condor_rm", str(queued)) == (
        f"All jobs in cluster {queued} have been marked for removal\n")
    p = compat.run("condor_hold", "999999", rc=1)
    assert p.stderr == "Couldn't find/hold all jobs in cluster 999999\n"
    p = compat.run("condor_hold", "-bogus", rc=1)
    assert p.stderr == "condor_hold: unknown option -bogus\n"


def test_status_and_history_errors_are_one_line(compat: Compat) -> None:
    p = compat.run("condor_status", "-bogus", rc=1)
    assert p.stderr == "Error: unknown argument -bogus\n"
    p = compat.run("condor_history", "-bogus", rc=1)
    assert p.stderr == "Error: unknown argument -bogus\n"
    p = compat.run("condor_history", "-constraint", "ProcId ==", rc=1)
    assert p.stderr == "Error: could not parse constraint ProcId ==\n"
    p = compat.run("condor_q", "-constraint", "ProcId ==", rc=1)
    assert p.stderr == "Error: could not parse constraint ProcId ==\n"
    p = compat.run("condor_history", "-constraint", rc=1)
    assert p.stderr == "Error: Argument -constraint requires another parameter\n"
