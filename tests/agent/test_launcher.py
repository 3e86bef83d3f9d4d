"""The launcher with real processes: output, environment, states, limits, kill."""

from __future__ import annotations

import os
import pwd
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.agent.conftest import IS_ROOT, make_launch, marked_processes, run_jobs


def test_script_output_and_environment(spool: Path, outdir: Path) -> None:
    script = ("#!/bin/sh\necho hello\necho oops >&2\n"
              "env | grep -E '^(CORRAL|SLURM)_|^(K|HOME|USER|LOGNAME)=' | sort\npwd\n")
    launch = make_launch(7, outdir, script=script, name="hello", node_list=["n1", "n2"],
                         cpus=3)
    r = run_jobs(spool, [launch])[7]
    assert (r.state, r.exit_code, r.signal, r.message) == ("COMPLETED", 0, None, "")
    assert r.t_end >= r.t_start > 0
    lines = (outdir / "7.out").read_text().splitlines()
    assert lines[:2] == ["hello", "oops"]
    env = dict(line.split("=", 1) for line in lines[2:-1])
    me = pwd.getpwuid(os.getuid())
    for prefix in ("CORRAL", "SLURM"):
        assert env[f"{prefix}_JOB_ID"] == "7"
        assert env[f"{prefix}_JOB_NAME"] == "hello"
        assert env[f"{prefix}_CPUS_ON_NODE"] == "3"
        assert env[f"{prefix}_SUBMIT_DIR"] == str(outdir)
    assert env["CORRAL_NODELIST"] == env["SLURM_JOB_NODELIST"] == "n1,n2"
    assert env["CORRAL_JOB_USER"] == "tester"
    assert env["SLURM_NTASKS"] == "1"
    assert env["K"] == "V"
    assert env["HOME"] == me.pw_dir and env["USER"] == env["LOGNAME"] == me.pw_name
    assert lines[-1] == str(outdir)
    assert not (spool / "job7").exists()  # the spool is cleaned after the job


def test_argv_and_separate_stderr(spool: Path, outdir: Path) -> None:
    launch = make_launch(8, outdir, argv=["sh", "-c", "echo out; echo err >&2"],
                         stderr=str(outdir / "8.err"))
    r = run_jobs(spool, [launch])[8]
    assert r.state == "COMPLETED"
    assert (outdir / "8.out").read_text() == "out\n"
    assert (outdir / "8.err").read_text() == "err\n"


def test_script_without_shebang_runs_under_sh(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(9, outdir, script="echo plain $((1+2))\n")])[9]
    assert r.state == "COMPLETED"
    assert (outdir / "9.out").read_text() == "plain 3\n"


def test_script_arguments(spool: Path, outdir: Path) -> None:
    script = '#!/bin/sh\necho "$#" "$1" "$2"\n'
    r = run_jobs(spool, [make_launch(26, outdir, script=script, argv=["a b", "c"])])[26]
    assert r.state == "COMPLETED"
    assert (outdir / "26.out").read_text() == "2 a b c\n"


def test_output_is_appended(spool: Path, outdir: Path) -> None:
    (outdir / "10.out").write_text("before\n")
    run_jobs(spool, [make_launch(10, outdir, argv=["echo", "after"])])
    assert (outdir / "10.out").read_text() == "before\nafter\n"


def test_exit_code_is_failed(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(11, outdir, argv=["sh", "-c", "exit 3"])])[11]
    assert (r.state, r.exit_code, r.signal) == ("FAILED", 3, None)


def test_signal_is_recorded(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(12, outdir, script="#!/bin/sh\nkill -USR1 $$\n")])[12]
    assert (r.state, r.exit_code, r.signal) == ("FAILED", None, signal.SIGUSR1)


def test_timeout_within_limit_and_grace(spool: Path, outdir: Path) -> None:
    # The job ignores SIGTERM, so only SIGKILL after the grace ends it.
    script = "#!/bin/sh\ntrap '' TERM\nsleep 30 &\nwait\nsleep 30\n"
    t0 = time.time()
    r = run_jobs(spool, [make_launch(13, outdir, script=script, time_limit_s=1,
                                     kill_grace_s=1)])[13]
    elapsed_s = time.time() - t0
    assert r.state == "TIMEOUT"
    assert r.signal == signal.SIGKILL
    assert 1.9 <= r.t_end - r.t_start <= 2.6
    assert elapsed_s < 3.5
    assert marked_processes(13) == []


def test_timeout_obeyed_on_sigterm(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(14, outdir, argv=["sleep", "30"], time_limit_s=0.5,
                                     kill_grace_s=5)])[14]
    assert (r.state, r.signal) == ("TIMEOUT", signal.SIGTERM)
    assert r.t_end - r.t_start < 1.5


def test_memory_hog_is_out_of_memory(spool: Path, outdir: Path) -> None:
    hog = "x = b'x' * (300 * 1024 * 1024)\nimport time\ntime.sleep(20)\n"
    t0 = time.time()
    r = run_jobs(spool, [make_launch(15, outdir, argv=["python3", "-c", hog], mem_mb=100)])[15]
    assert r.state == "OUT_OF_MEMORY"
    assert r.max_rss_mb > 100
    assert time.time() - t0 < 10


def test_memory_of_the_whole_tree_counts(spool: Path, outdir: Path) -> None:
    # Three children of 60 MiB each: none alone passes 100 MiB, together they do.
    child = "x = b'x' * (60 * 1024 * 1024)\nimport time\ntime.sleep(20)\n"
    script = f"#!/bin/sh\nfor i in 1 2 3; do python3 -c \"{child}\" & done\nwait\n"
    r = run_jobs(spool, [make_launch(16, outdir, script=script, mem_mb=100)])[16]
    assert r.state == "OUT_OF_MEMORY"
    assert marked_processes(16) == []


def test_cancel_kills_grandchildren_and_setsid_escapees(spool: Path, outdir: Path) -> None:
    pids = outdir / "pids"
    script = ("#!/bin/sh\n"
              f"sh -c 'sleep 300 & echo $! >> {pids}; wait' &\n"
              f"setsid sleep 301 & echo $! >> {pids}\n"
              f"setsid sh -c 'sleep 302 & echo $! >> {pids}; wait' &\n"
              "wait\n")
    job = make_launch(17, outdir, script=script)
    r = run_jobs(spool, [job], steps=[(0.6, lambda lz: lz.cancel(17, signal.SIGTERM, 1.0))])[17]
    assert r.state == "CANCELLED" and r.cancelled
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 3
    for pid in recorded:
        assert not _alive(pid), f"pid {pid} survived the cancel"
    assert marked_processes(17) == []


def test_processes_left_behind_are_killed_at_the_end(spool: Path, outdir: Path) -> None:
    pids = outdir / "pids"
    script = f"#!/bin/sh\nsleep 300 & echo $! > {pids}\nsetsid sleep 301 &\nexit 0\n"
    r = run_jobs(spool, [make_launch(18, outdir, script=script)])[18]
    assert r.state == "COMPLETED"
    assert not _alive(int(pids.read_text()))
    assert marked_processes(18) == []


def test_signal_order_reaches_the_job(spool: Path, outdir: Path) -> None:
    script = ("#!/bin/sh\ntrap 'echo got-usr1; exit 7' USR1\n"
              "while :; do sleep 0.05; done\n")
    r = run_jobs(spool, [make_launch(19, outdir, script=script)],
                 steps=[(0.5, lambda lz: lz.signal(19, signal.SIGUSR1))])[19]
    assert (r.state, r.exit_code) == ("FAILED", 7)
    assert "got-usr1" in (outdir / "19.out").read_text()


def test_cpu_time_and_peak_rss_are_measured(spool: Path, outdir: Path) -> None:
    busy = ("import time\nx = b'x' * (50 * 1024 * 1024)\nt = time.process_time()\n"
            "while time.process_time() - t < 0.6: pass\n")
    r = run_jobs(spool, [make_launch(20, outdir, argv=["python3", "-c", busy])])[20]
    assert r.state == "COMPLETED"
    assert 0.5 <= r.cpu_time_s < 5
    assert 40 <= r.max_rss_mb < 500


def test_unwritable_output_fails_with_message(spool: Path, outdir: Path) -> None:
    locked = outdir / "locked"
    locked.mkdir(mode=0o500)
    uid = {} if not IS_ROOT else {"uid": 65534, "gid": 65534}
    r = run_jobs(spool, [make_launch(21, outdir, argv=["echo", "hi"],
                                     stdout=str(locked / "x.out"), **uid)])[21]
    assert (r.state, r.exit_code, r.signal) == ("FAILED", 1, None)
    assert "cannot start" in r.message and "x.out" in r.message
    assert not (locked / "x.out").exists()


def test_bad_working_dir_fails_with_message(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(22, outdir, working_dir="/no/such/dir")])[22]
    assert (r.state, r.exit_code) == ("FAILED", 1)
    assert "/no/such/dir" in r.message


@pytest.mark.skipif(not IS_ROOT, reason="switching users needs root")
def test_runs_as_the_owner_when_root(spool: Path, outdir: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    script = "#!/bin/sh\nid -u\nid -g\necho $HOME $USER\n"
    r = run_jobs(spool, [make_launch(23, outdir, script=script, user="nobody",
                                     uid=nobody.pw_uid, gid=nobody.pw_gid)])[23]
    assert r.state == "COMPLETED", r.message
    out = outdir / "23.out"
    assert out.read_text().split() == [str(nobody.pw_uid), str(nobody.pw_gid),
                                       nobody.pw_dir, "nobody"]
    assert out.stat().st_uid == nobody.pw_uid  # opened by the user, not by root


@pytest.mark.skipif(not IS_ROOT, reason="switching users needs root")
def test_unknown_uid_fails_with_message(spool: Path, outdir: Path) -> None:
    r = run_jobs(spool, [make_launch(24, outdir, uid=4_000_000, gid=4_000_000)])[24]
    assert (r.state, r.exit_code) == ("FAILED", 1)
    assert "unknown user" in r.message


def test_launch_is_idempotent(spool: Path, outdir: Path) -> None:
    launch = make_launch(25, outdir, argv=["sh", "-c", "echo run"])
    r = run_jobs(spool, [launch, launch])
    assert r[25].state == "COMPLETED"
    assert (outdir / "25.out").read_text() == "run\n"


def test_many_short_jobs_are_all_reaped(spool: Path, outdir: Path) -> None:
    launches = [make_launch(1000 + i, outdir, argv=["true"] if i % 2 else ["false"],
                            stdout=str(outdir / "many.out")) for i in range(200)]
    t0 = time.time()
    reports = run_jobs(spool, launches, timeout_s=60)
    assert len(reports) == 200
    states = [reports[1000 + i].state for i in range(200)]
    assert states == ["FAILED" if i % 2 == 0 else "COMPLETED" for i in range(200)]
    assert time.time() - t0 < 30
    assert not any(p.status() == psutil.STATUS_ZOMBIE for p in psutil.Process().children())


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def test_output_directory_made_right_after_submit_is_waited_for(spool: Path,
                                                                 outdir: Path) -> None:
    late = outdir / "logs-made-late"
    launch = make_launch(31, outdir, argv=["echo", "hi"], stdout=str(late / "31.out"),
                         output_wait_s=5)
    r = run_jobs(spool, [launch], steps=[(0.6, lambda _: late.mkdir())])[31]
    assert (r.state, r.exit_code, r.message) == ("COMPLETED", 0, "")
    assert (late / "31.out").read_text() == "hi\n"


def test_output_directory_that_never_appears_fails_after_the_wait(spool: Path,
                                                                   outdir: Path) -> None:
    t0 = time.monotonic()
    launch = make_launch(32, outdir, argv=["echo", "hi"],
                         stdout=str(outdir / "never" / "32.out"), output_wait_s=0.6)
    r = run_jobs(spool, [launch])[32]
    assert time.monotonic() - t0 >= 0.6
    assert (r.state, r.exit_code) == ("FAILED", 1)
    assert "cannot start" in r.message and "never/32.out" in r.message


def test_gpu_devices_are_exported(spool: Path, outdir: Path) -> None:
    script = "#!/bin/sh\nenv | grep -E 'GPU|VISIBLE_DEVICES' | sort\n"
    launch = make_launch(33, outdir, script=script, gpus=2, gpu_ids=[1, 3],
                         environment={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    assert run_jobs(spool, [launch])[33].state == "COMPLETED"
    env = dict(line.split("=", 1) for line in (outdir / "33.out").read_text().splitlines())
    for name in ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES",
                 "SLURM_JOB_GPUS", "CORRAL_JOB_GPUS"):
        assert env[name] == "1,3", name
    launch = make_launch(34, outdir, script=script)  # no GPUs: nothing is added
    assert run_jobs(spool, [launch])[34].state == "COMPLETED"
    assert (outdir / "34.out").read_text() == ""
