"""The site's programs on the agent with real processes: health check, prolog, epilog."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import psutil

from corral.agent.health import HealthCheck, HealthSettings, reason_of
from corral.agent.launcher import Launcher
from corral.agent.prolog import JobScripts, ScriptSettings
from corral.agent.protocol import JobFacts, JobReport
from corral.agent.siteprog import ProgramResult, run_program
from tests.agent.conftest import AGENT_ID, make_launch


def _prog(d: Path, name: str, body: str) -> str:
    path = d / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _run(program: str, timeout_s: float = 5.0) -> ProgramResult:
    return asyncio.run(run_program("check", program, {"PATH": "/usr/bin:/bin"}, timeout_s))


def test_a_program_passes_fails_and_says_why_in_its_first_line(tmp_path: Path) -> None:
    ok = _run(_prog(tmp_path, "ok", "echo fine"))
    assert (ok.ok, ok.exit_code, ok.first_line) == (True, 0, "fine")
    bad = _run(_prog(tmp_path, "bad", "echo\necho '  disk full \x07' >&2\necho more\nexit 4"))
    assert (bad.ok, bad.exit_code, bad.first_line) == (False, 4, "disk full")
    assert bad.message == "check exited 4: disk full"
    assert reason_of(bad) == "disk full"
    silent = _run(_prog(tmp_path, "silent", "exit 1"))
    assert reason_of(silent) == "check exited 1"
    killed = _run(_prog(tmp_path, "killed", "kill -9 $$"))
    assert (killed.ok, killed.exit_code) == (False, None)
    assert killed.message == "check was killed by signal 9"
    missing = _run(str(tmp_path / "nope"))
    assert not missing.ok and missing.message.startswith("check cannot start:")


def test_a_program_past_its_timeout_fails_and_its_whole_group_dies(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = _prog(tmp_path, "hang", f"echo started\nsleep 60 & echo $! > {pids}\nwait")
    t0 = time.monotonic()
    r = _run(program, timeout_s=1)
    assert time.monotonic() - t0 < 3
    assert (r.ok, r.exit_code) == (False, None)
    assert r.message == "check timed out after 1 s"
    assert reason_of(r) == "check timed out after 1 s"  # not its "started"
    child = int(pids.read_text())
    deadline = time.monotonic() + 2
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the program's child survived its timeout"
        time.sleep(0.05)


def test_a_descendant_holding_the_output_open_does_not_hold_up_the_verdict(
        tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = _prog(tmp_path, "daemon", f"echo ok\nsleep 30 & echo $! > {pids}\nexit 0")
    t0 = time.monotonic()
    r = _run(program, timeout_s=10)
    assert r.ok and r.first_line == "ok"
    assert time.monotonic() - t0 < 3
    os.kill(int(pids.read_text()), 9)


def test_health_check_sends_every_verdict_at_its_interval(tmp_path: Path) -> None:
    flag = tmp_path / "sick"
    program = _prog(tmp_path, "check",
                    f'if [ -e {flag} ]; then echo "sick on $CORRAL_NODENAME"; exit 1; fi')
    verdicts: list[tuple[float, bool, str]] = []

    async def main() -> None:
        async def send(ok: bool, message: str) -> None:
            verdicts.append((time.monotonic(), ok, message))
            if len(verdicts) == 2:
                flag.touch()
            raise ConnectionError("the controller is away")  # the loop goes on

        check = HealthCheck("n7", send)
        check.configure(HealthSettings(program, interval_s=0.3, timeout_s=5))
        check.configure(HealthSettings(program, interval_s=0.3, timeout_s=5))  # no restart
        while len(verdicts) < 4:
            await asyncio.sleep(0.05)
        check.configure(HealthSettings(None))
        n = len(verdicts)
        await asyncio.sleep(0.5)
        assert len(verdicts) == n  # stopped
        await check.close()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert [(ok, msg) for _, ok, msg in verdicts[:4]] == [
        (True, ""), (True, ""), (False, "sick on n7"), (False, "sick on n7")]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(verdicts[:4])]
    assert all(0.25 < g < 1.5 for g in gaps), gaps


def _run_with_scripts(spool: Path, settings: ScriptSettings, launch_ids: list[int],
                      outdir: Path, cancel: int | None = None) -> tuple[dict[int, JobReport],
                                                                        list[list[int]]]:
    async def main() -> tuple[dict[int, JobReport], list[list[int]]]:
        reports: dict[int, JobReport] = {}
        launcher = Launcher(spool, AGENT_ID, lambda r: reports.__setitem__(r.job_id, r),
                            tick_s=0.1)
        scripts = JobScripts("n1")
        scripts.configure(settings)
        launcher.scripts = scripts
        seen: list[list[int]] = []
        for job_id in launch_ids:
            launch = make_launch(job_id, outdir, argv=["sh", "-c", "echo ran"])
            assert launcher.launch(launch)
            assert not launcher.launch(launch)  # a repeated order, while its prolog runs
        seen.append(sorted(r.job_id for r in launcher.running()))
        if cancel is not None:
            assert launcher.cancel(cancel)
        deadline = time.monotonic() + 20
        while len(reports) < len(launch_ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        seen.append(sorted(r.job_id for r in launcher.running()))
        await scripts.close()
        await launcher.close()
        return reports, seen

    return asyncio.run(main())


def test_prolog_runs_before_the_job_and_epilog_after_it(spool: Path, outdir: Path) -> None:
    log = outdir / "log"
    prolog = _prog(outdir, "prolog", f'sleep 0.3; echo "prolog $SLURM_JOB_ID $SLURM_JOB_USER '
                   f'$CORRAL_SCRIPT_CONTEXT $SLURMD_NODENAME" >> {log}')
    epilog = _prog(outdir, "epilog", f'echo "epilog $CORRAL_JOB_ID $CORRAL_JOB_STATE '
                   f'$CORRAL_JOB_EXIT_CODE" >> {log}; exit 5')
    reports, seen = _run_with_scripts(spool, ScriptSettings(prolog, epilog), [31], outdir)
    assert seen == [[31], []]  # running (pid 0) during its prolog
    r = reports[31]
    assert (r.state, r.prolog_failed, r.epilog_failed) == ("COMPLETED", False, True)
    assert r.epilog_message == f"epilog {epilog} exited 5"
    assert (outdir / "31.out").read_text() == "ran\n"
    assert log.read_text() == "prolog 31 tester prolog_slurmd n1\nepilog 31 COMPLETED 0\n"


def test_failing_prolog_keeps_the_job_from_starting(spool: Path, outdir: Path) -> None:
    prolog = _prog(outdir, "prolog", 'echo "no scratch for $SLURM_JOB_ID"; exit 2')
    epilog = _prog(outdir, "epilog", f"touch {outdir}/epilog-ran")
    reports, _ = _run_with_scripts(spool, ScriptSettings(prolog, epilog), [32], outdir)
    r = reports[32]
    assert (r.state, r.exit_code, r.prolog_failed) == ("FAILED", 1, True)
    assert r.message == r.prolog_message == f"prolog {prolog} exited 2: no scratch for 32"
    assert not (outdir / "32.out").exists()
    assert not (outdir / "epilog-ran").exists()  # no epilog for a job that never ran


def test_prolog_timeout_and_cancel_during_the_prolog(spool: Path, outdir: Path) -> None:
    slow = _prog(outdir, "prolog", "sleep 0.5")
    reports, _ = _run_with_scripts(spool, ScriptSettings(slow), [33, 34], outdir, cancel=34)
    assert reports[33].state == "COMPLETED"
    assert (reports[34].state, reports[34].cancelled) == ("CANCELLED", True)
    assert not (outdir / "34.out").exists()
    hang = _prog(outdir, "hang", "sleep 30")
    reports, _ = _run_with_scripts(spool, ScriptSettings(hang, prolog_timeout_s=0.5), [35],
                                   outdir)
    assert reports[35].prolog_failed
    assert reports[35].prolog_message == f"prolog {hang} timed out after 0.5 s"


def test_on_a_jobs_other_node_steps_wait_for_its_prolog(outdir: Path) -> None:
    mark = outdir / "prolog-done"
    prolog = _prog(outdir, "prolog", f'sleep 0.3; [ "$SLURM_JOB_ID" = 41 ] || exit 7; '
                   f'touch {mark}')
    epilog = _prog(outdir, "epilog", 'echo "left $CORRAL_JOB_ID"; exit 1')
    facts = {"job_id": 41, "name": "x", "user": "tester", "uid": os.getuid(),
             "gid": os.getgid(), "working_dir": str(outdir), "node_list": ["n1", "n2"]}
    sent: list[tuple[str, int, str]] = []
    started: list[tuple[str, bool]] = []

    async def main() -> None:
        async def send(kind: str, job: JobFacts, message: str) -> None:
            sent.append((kind, job.job_id, message))

        scripts = JobScripts("n2", send)
        scripts.configure(ScriptSettings(prolog, epilog))
        scripts.prolog_here(JobFacts.from_dict(facts))
        scripts.prolog_here(JobFacts.from_dict(facts))  # a repeated order: one prolog
        scripts.after_prolog(41, lambda: started.append(("step 0", mark.exists())))
        scripts.after_prolog(99, lambda: started.append(("other job", True)))  # no gate
        await asyncio.sleep(1)
        scripts.after_prolog(41, lambda: started.append(("step 1", True)))  # passed
        scripts.prolog_here(JobFacts.from_dict({**facts, "job_id": 42}))  # fails
        scripts.after_prolog(42, lambda: started.append(("never", True)))
        scripts.epilog_here(JobFacts.from_dict(facts))
        await asyncio.sleep(1)
        await scripts.close()

    asyncio.run(main())
    assert started == [("other job", True), ("step 0", True), ("step 1", True)]
    assert sorted(sent) == [("epilog", 41, f"epilog {epilog} exited 1: left 41"),
                            ("prolog", 42, f"prolog {prolog} exited 7")]
