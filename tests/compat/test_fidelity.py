"""The drop-in commands behave as the real tools do where workflow tools look:
exit codes for unknown and finished jobs, format fields, the environment a job sees,
Grid Engine resource requests."""

from __future__ import annotations

import re

from tests.compat.conftest import Compat


def _submit(c: Compat, *args: str) -> int:
    out = c.out("sbatch", "--parsable", *args)
    assert re.fullmatch(r"\d+\n", out), out
    return int(out)


def test_scancel_ignores_unknown_and_finished_jobs_only_when_killing(compat: Compat) -> None:
    done = _submit(compat, "--wrap", "true")
    assert compat.cluster.wait(done)["state"] == "COMPLETED"
    for job in ("999999", str(done), "999999_3"):
        p = compat.run("scancel", job)
        assert (p.stdout, p.stderr) == ("", ""), job
    p = compat.run("scancel", "-v", "999999")  # verbose: said, still not an error
    assert "scancel: error: Kill job error on job id 999999: Invalid job id specified\n" \
        in p.stderr
    for job in ("999999", str(done)):  # a signal to a job that is not there: an error
        p = compat.run("scancel", "--signal=USR1", job, rc=1)
        assert p.stderr == (f"scancel: error: Kill job error on job id {job}: "
                            "Invalid job id specified\n")
    p = compat.run("scancel", "-Q", "-s", "USR1", "999999", rc=1)
    assert p.stderr == ""
    p = compat.run("scancel", "-b", "999999", rc=1)
    assert "Invalid job id specified" in p.stderr


def test_qstat_j_says_a_finished_job_no_longer_exists(compat: Compat) -> None:
    done = int(compat.out("qsub", "-terse", "-cwd", "-b", "y", "true"))
    assert compat.cluster.wait(done)["state"] == "COMPLETED"
    p = compat.run("qstat", "-j", str(done), rc=1)
    assert (p.stdout, p.stderr) == ("", f"Following jobs do not exist: \n{done}\n")
    p = compat.run("qstat", "-j", f"{done},999999", rc=1)
    assert p.stderr == f"Following jobs do not exist: \n{done}, 999999\n"
    held = int(compat.out("qsub", "-terse", "-h", "-cwd", "-N", "held", "-b", "y", "true"))
    out = compat.out("qstat", "-j", f"{held},{done}")  # one left: shown, exit 0
    assert out.startswith("=" * 62 + f"\njob_number:                 {held}\n")
    p = compat.run("qdel", str(done), rc=1)  # it has left the queue
    assert (p.stdout, p.stderr) == ("", f'denied: job "{done}" does not exist\n')
    p = compat.run("qhold", str(done), rc=1)
    assert p.stderr == f'denied: job "{done}" does not exist\n'
    compat.run("qdel", str(held))


def test_job_environment_has_slurms_old_names(compat: Compat) -> None:
    job = _submit(compat, "-o", "oldnames-%j.out", "--wrap",
                  'echo "$SLURM_JOBID $SLURM_NODELIST $SLURM_JOB_NODELIST"')
    assert compat.cluster.wait(job)["state"] == "COMPLETED"
    assert (compat.work / f"oldnames-{job}.out").read_text() == f"{job} node1 node1\n"


def test_squeue_shows_a_throttled_arrays_limit(compat: Compat) -> None:
    arr = _submit(compat, "-H", "--array=2-4%2", "--wrap", "true")
    try:
        out = compat.out("squeue", "-h", "-j", str(arr), "-o", "%i %K %F")
        assert out == f"{arr}_[2-4%2] 2-4%2 {arr}\n"
        out = compat.out("squeue", "-h", "-r", "-j", str(arr), "-o", "%i")
        assert out.split() == [f"{arr}_{t}" for t in (2, 3, 4)]
    finally:
        compat.run("scancel", str(arr))


def test_qsub_slots_and_memory_requests(compat: Compat) -> None:
    out = compat.out("qsub", "-terse", "-h", "-cwd", "-l", "slots=3,h_rss=200M",
                     "-b", "y", "true")
    job = compat.cluster.show(int(out))
    assert job["cpus"] == 3 and job["mem_mb_per_node"] == 600  # per slot, as in SGE
    p = compat.run("qsub", "-terse", "-h", "-cwd", "-l", "h_vmem=1G,s_rss=100M",
                   "-b", "y", "true")
    assert "ignored" not in p.stderr
    job2 = compat.cluster.show(int(p.stdout))
    assert job2["cpus"] == 1 and job2["mem_mb_per_node"] == 100  # the strictest
    p = compat.run("qsub", "-l", "slots=x", "-b", "y", "true", rc=1)
    assert p.stderr == 'qsub: -l slots: "x" is not a number of slots (a positive integer)\n'
    compat.run("qdel", str(job["id"]), str(job2["id"]))


def test_sinfo_letters_workflow_tools_use(compat: Compat) -> None:
    # a workflow tool's start-up probe: partition, GRES, limit, priority tier, CPUs, memory
    out = compat.out("sinfo", "-a", "-h", "-o", "%P %G %l %p %c %m")
    assert re.fullmatch(r"main\* \(null\) 1-00:00:00 0 4 \d+\n", out), out
    letters = "aAbBcCdDeEfFgGhHiIlLmMnNoOpPrRsStTuUvVwXYzZ"
    p = compat.run("sinfo", "-h", "-o", "|".join(f"%{c}" for c in letters))
    assert p.stderr == "" and p.stdout.count("|") == len(letters) - 1
    cells = dict(zip(letters, p.stdout.rstrip("\n").split("|"), strict=True))
    assert (cells["p"], cells["M"], cells["V"], cells["Y"], cells["A"]) == (
        "0", "OFF", "corral", "4", cells["F"].rsplit("/", 2)[0])
    p = compat.run("sinfo", "-h", "-o", "%P %j|")  # as Slurm: said, kept, not fatal
    assert (p.stdout, p.stderr) == ("main* %j|\n", "Invalid node format specification: j\n")
    out = compat.out("sinfo", "-O", "PartitionName:8,PriorityTier:5,Nodes")
    assert out.splitlines()[:2] == ["PARTITIOPRIO_NODES", "main    0    1"]


def test_squeue_and_sacct_fields(compat: Compat) -> None:
    job = _submit(compat, "-H", "-J", "fields", "-n", "2", "--wrap", "true")
    try:
        letters = "aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRStTuUvVwWxXyYzZ"
        p = compat.run("squeue", "-h", "-j", str(job), "-o", "|".join(f"%{c}" for c in letters))
        assert p.stderr == ""
        cells = dict(zip(letters, p.stdout.rstrip("\n").split("|"), strict=True))
        assert (cells["B"], cells["O"], cells["W"], cells["X"], cells["H"]) == (
            "n/a", "0", "(null)", "N/A", "*")
        out = compat.out("squeue", "-h", "-j", str(job), "-O",
                         "NumTasks:4,BatchFlag:3,Requeue:3,StdIn:10,Cluster")
        assert out.split() == ["2", "1", "1", "/dev/null", "corral"]
        p = compat.run("squeue", "-h", "-j", str(job), "-o", "%i %s")
        assert p.stdout == f"{job} %s\n"
        assert p.stderr == "squeue: error: Invalid job format specification: s\n"
    finally:
        compat.run("scancel", str(job))
    compat.cluster.wait(job)
    out = compat.out("sacct", "-j", str(job), "-X", "-n", "-P", "-o",
                     "JobID,State,Planned,PlannedCPURAW,QOSREQ,StdIn,Flags,NTasks")
    jid, state, planned, planned_raw, qos, stdin, flags, ntasks = out.strip().split("|")
    assert (jid, state, qos, stdin, flags, ntasks) == (
        str(job), "CANCELLED by " + str(compat.cluster.show(job)["uid"]), "normal",
        "/dev/null", "SchedMain", "")
    assert re.fullmatch(r"\d\d:\d\d:\d\d", planned) and planned_raw.isdigit()


def test_squeue_only_job_state(compat: Compat) -> None:
    job = _submit(compat, "-H", "--wrap", "true")
    try:
        lines = compat.out("squeue", "--only-job-state", "-j", str(job)).splitlines()
        assert lines == ["             JOBID ST", f"{job:>18} PD"]
        out = compat.out("squeue", "--only-job-state", "-h", "-t", "PD", "-O", "JobID,State")
        assert f"{job:<20}PENDING" in out.splitlines()
        p = compat.run("squeue", "--only-job-state", "-u", "root", rc=1)
        assert p.stderr.startswith("squeue: fatal: Option --only-job-state only works alone")
    finally:
        compat.run("scancel", str(job))


def test_sbatch_test_only_estimates_without_submitting(compat: Compat) -> None:
    import time as _time
    before = compat.out("squeue", "-h", "-t", "all", "-o", "%i")
    p = compat.run("sbatch", "--test-only", "-c", "2", "--wrap", "true")
    m = re.fullmatch(r"sbatch: Job (\d+) to start at (\S+) using 2 processors on nodes node1 "
                     r"in partition main\n", p.stderr)
    assert m and p.stdout == "", p.stderr
    assert compat.out("squeue", "-h", "-t", "all", "-o", "%i") == before  # nothing queued
    busy = _submit(compat, "-c", "4", "-t", "2:00", "--wrap", "sleep 120")
    try:
        compat.cluster.wait_state(busy, {"RUNNING"})
        p = compat.run("sbatch", "--test-only", "--wrap", "true")
        when = re.search(r"to start at (\S+) ", p.stderr)
        assert when, p.stderr
        t = _time.mktime(_time.strptime(when.group(1), "%Y-%m-%dT%H:%M:%S"))
        assert 100 < t - _time.time() <= 121  # when the running job's limit ends
    finally:
        compat.run("scancel", str(busy))
    p = compat.run("sbatch", "--test-only", "-c", "64", "--wrap", "true", rc=1)
    assert p.stderr.startswith("sbatch: error: allocation failure: ")
    assert p.stderr.count("\n") == 1


def test_srun_pty_gives_task_zero_a_terminal(compat: Compat) -> None:
    p = compat.run("srun", "--pty", "sh", "-c",
                   "test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty; stty size")
    lines = p.stdout.splitlines()
    assert lines[0] == "all-tty" and lines[1].startswith("/dev/pts/"), p.stdout
    assert lines[2:] == ["24 80"]  # srun's own output is no terminal: the default size


def test_srun_pty_is_interactive(compat: Compat) -> None:
    """An interactive shell on the node, driven from a terminal as a user would: its
    size, Ctrl-C reaching the foreground command, the shell's exit code."""
    import fcntl
    import os
    import select
    import struct
    import subprocess
    import termios
    import time as _time

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(["srun", "--pty", "sh"], stdin=slave, stdout=slave,
                            stderr=slave, env=compat.env, cwd=compat.work,
                            start_new_session=True)
    os.close(slave)
    seen = b""

    def until(text: bytes, timeout_s: float = 20) -> None:
        nonlocal seen
        deadline = _time.monotonic() + timeout_s
        while text not in seen:
            assert _time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert text in seen, seen

    try:
        os.write(master, b"stty size; echo ready-$((6*7))\n")
        until(b"ready-42")
        assert b"30 100" in seen
        os.write(master, b"sleep 100\n")
        _time.sleep(1)
        os.write(master, b"\x03")  # Ctrl-C: SIGINT to the foreground sleep, not to srun
        os.write(master, b"echo back-$((2+3))\n")
        until(b"back-5")
        os.write(master, b"exit 3\n")
        assert proc.wait(timeout=20) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_qsub_notify_warns_with_sigusr2_before_the_kill(compat: Compat) -> None:
    import time as _time

    body = ('trap "echo got-usr2; exit 7" USR2; trap "echo got-term; exit 8" TERM; '
            'echo ready; while :; do sleep 0.1; done')
    ids = {}
    for flag in ("-notify", None):
        name = "notified" if flag else "plain"
        args = ["qsub", "-terse", "-cwd", "-N", name, *([flag] if flag else []), "-b", "y",
                "sh", "-c", body]
        p = compat.run(*args)
        assert "ignored" not in p.stderr, p.stderr
        ids[name] = int(p.stdout)
    for name, job in ids.items():
        out = compat.work / f"{name}.o{job}"
        deadline = _time.monotonic() + 20
        while not (out.exists() and "ready" in out.read_text()):
            assert _time.monotonic() < deadline
            _time.sleep(0.1)
        compat.run("qdel", str(job))
        compat.cluster.wait(job)
    assert (compat.work / f"notified.o{ids['notified']}").read_text() == "ready\ngot-usr2\n"
    assert (compat.work / f"plain.o{ids['plain']}").read_text() == "ready\ngot-term\n"
    # and at the time limit
    body = 'trap "echo got-usr2; exit 7" USR2; while :; do sleep 0.1; done'
    job = int(compat.out("qsub", "-terse", "-cwd", "-N", "late", "-notify", "-l", "h_rt=1",
                         "-b", "y", "sh", "-c", body))
    assert compat.cluster.wait(job)["state"] == "TIMEOUT"
    assert (compat.work / f"late.o{job}").read_text() == "got-usr2\n"
