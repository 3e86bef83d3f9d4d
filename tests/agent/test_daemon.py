"""The agent's protocol loop against a small real HTTP server (fake_controller)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from corral.agent.daemon import Agent, Backoff
from corral.agent.inventory import Inventory
from corral.agent.supervise import boottime
from tests.agent.conftest import make_launch
from tests.agent.fake_controller import FakeController

INVENTORY = Inventory(node="n1", cpus=2, mem_mb=2048, gpus=0, features=("avx2",))


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "ctl.sock"


@pytest.fixture
def controller(sock_path: Path) -> Iterator[FakeController]:
    fake = FakeController(uds=str(sock_path)).start()
    yield fake
    fake.stop()


def launch_order(job_id: int, outdir: Path, **kw: Any) -> dict[str, Any]:
    launch = make_launch(job_id, outdir, **kw)
    d = {f: getattr(launch, f) for f in launch.__slots__}
    d["argv"], d["node_list"] = list(launch.argv), list(launch.node_list)
    return {"kind": "launch", "job_id": job_id, "launch": d}


async def until(cond: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def run_agent(sock_path: Path, spool: Path,
              scenario: Callable[[Agent], Awaitable[None]]) -> Agent:
    async def main() -> Agent:
        agent = Agent(f"unix://{sock_path}", INVENTORY, spool, use_cgroups=False, tick_s=0.1)
        task = asyncio.create_task(agent.run())
        try:
            await scenario(agent)
        finally:
            agent.stop()
            await asyncio.wait_for(task, 10)
        return agent

    return asyncio.run(main())


def test_register_poll_launch_report(controller: FakeController, sock_path: Path,
                                     spool: Path, outdir: Path) -> None:
    async def scenario(agent: Agent) -> None:
        await until(lambda: controller.seen("/agent/v1/poll"))
        t_order = time.time()
        controller.order(launch_order(5, outdir, argv=["echo", "hi"]))
        report = (await until(lambda: controller.reports().get(5)))
        assert report["state"] == "COMPLETED" and report["exit_code"] == 0
        assert report["t_start"] - t_order < 0.5  # launched as soon as the order came
        assert set(report) >= {"job_id", "state", "exit_code", "signal", "t_start", "t_end",
                               "cpu_time_s", "max_rss_mb", "message"}
        await until(lambda: not agent.pending)

    agent = run_agent(sock_path, spool, scenario)
    reg = controller.seen("/agent/v1/register")[0]
    assert reg["node"] == "n1" and reg["cpus"] == 2 and reg["mem_mb"] == 2048
    assert reg["gpus"] == 0 and reg["features"] == ["avx2"]
    assert reg["boot_id"] == agent.boot_id and reg["agent_version"]
    assert reg["running"] == [] and reg["finished"] == []
    poll = controller.seen("/agent/v1/poll")[0]
    assert poll == {"node": "n1", "boot_id": agent.boot_id, "running": [], "steps_usage": [],
                    "unacknowledged": [], "wait_s": 0.5}
    assert (outdir / "5.out").read_text() == "hi\n"


def test_running_jobs_are_listed_and_cancel_order(controller: FakeController,
                                                  sock_path: Path, spool: Path,
                                                  outdir: Path) -> None:
    async def scenario(agent: Agent) -> None:
        controller.order(launch_order(6, outdir, argv=["sleep", "30"]))
        await until(lambda: any(p["running"] for p in controller.seen("/agent/v1/poll")))
        running = next(p["running"] for p in controller.seen("/agent/v1/poll") if p["running"])
        assert running[0]["job_id"] == 6 and psutil.pid_exists(running[0]["pid"])
        controller.order({"kind": "cancel", "job_id": 6, "signal": 15, "grace_s": 1})
        report = await until(lambda: controller.reports().get(6))
        assert report["state"] == "CANCELLED" and report["signal"] == 15

    run_agent(sock_path, spool, scenario)


def test_duplicate_launch_is_ignored_until_acknowledged(
        controller: FakeController, sock_path: Path, spool: Path, outdir: Path) -> None:
    async def scenario(agent: Agent) -> None:
        order = launch_order(7, outdir, argv=["sh", "-c", "sleep 0.3; echo run"])
        controller.order(order)
        controller.order(order)  # re-delivered while running: ignored
        controller.order({"kind": "cancel", "job_id": 99, "signal": 15, "grace_s": 1})
        await until(lambda: controller.reports().get(7))
        await until(lambda: not agent.pending)
        controller.order(order)  # after the acknowledgement: a requeued job runs again
        await until(lambda: len(controller.seen("/agent/v1/report")) == 2)

    run_agent(sock_path, spool, scenario)
    assert (outdir / "7.out").read_text() == "run\nrun\n"


def test_a_later_run_overtaking_the_acknowledgement_still_starts(
        controller: FakeController, sock_path: Path, spool: Path, outdir: Path) -> None:
    """A requeued job's launch (run 1) may arrive before the answer that acknowledges
    run 0's report: the earlier report is stale then, and the new run must start."""
    async def scenario(agent: Agent) -> None:
        controller.fail_reports = True  # run 0's report stays unacknowledged
        first = launch_order(9, outdir, argv=["echo", "run0"])
        controller.order(first)
        await until(lambda: agent.pending.get(9))
        controller.order(first)  # a repeat of the run that ended here: ignored
        second = launch_order(9, outdir, argv=["echo", "run1"])
        second["launch"]["run"] = 1
        controller.order(second)
        await until(lambda: (r := agent.pending.get(9)) is not None and r.run == 1)
        controller.fail_reports = False
        await until(lambda: not agent.pending)

    run_agent(sock_path, spool, scenario)
    assert (outdir / "9.out").read_text() == "run0\nrun1\n"
    assert controller.reports()[9]["run"] == 1


def test_bad_launch_order_is_reported_failed(controller: FakeController, sock_path: Path,
                                             spool: Path, outdir: Path) -> None:
    async def scenario(agent: Agent) -> None:
        controller.order({"kind": "launch", "job_id": 8, "launch": {"job_id": 8}})
        report = await until(lambda: controller.reports().get(8))
        assert report["state"] == "FAILED" and report["exit_code"] == 1
        assert "bad launch order" in report["message"]

    run_agent(sock_path, spool, scenario)


def test_conflict_makes_the_agent_register_again(controller: FakeController,
                                                 sock_path: Path, spool: Path) -> None:
    async def scenario(agent: Agent) -> None:
        await until(lambda: controller.seen("/agent/v1/poll"))
        controller.forget_agents()
        await until(lambda: len(controller.seen("/agent/v1/register")) == 2)

    agent = run_agent(sock_path, spool, scenario)
    assert {r["boot_id"] for r in controller.seen("/agent/v1/register")} == {agent.boot_id}


def test_controller_outage_keeps_jobs_and_reports(controller: FakeController,
                                                  sock_path: Path, spool: Path,
                                                  outdir: Path) -> None:
    async def scenario(agent: Agent) -> None:
        controller.order(launch_order(9, outdir, argv=["sleep", "0.6"]))
        controller.order(launch_order(10, outdir, argv=["sleep", "30"]))
        await until(lambda: len(agent.launcher.jobs) == 2 if agent.launcher else False)
        await asyncio.to_thread(controller.stop)
        await until(lambda: 9 in agent.pending)  # job 9 ended during the outage
        assert 10 in agent.launcher.jobs  # type: ignore[union-attr]
        n_registers = len(controller.seen("/agent/v1/register"))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(controller.start)
        await until(lambda: len(controller.seen("/agent/v1/register")) > n_registers)
        reg = controller.seen("/agent/v1/register")[-1]
        assert [r["job_id"] for r in reg["finished"]] == [9]
        assert reg["finished"][0]["state"] == "COMPLETED"
        assert [r["job_id"] for r in reg["running"]] == [10]
        await until(lambda: not agent.pending)
        controller.order({"kind": "cancel", "job_id": 10, "signal": 9, "grace_s": 0})
        await until(lambda: controller.reports().get(10))

    run_agent(sock_path, spool, scenario)


def test_unacknowledged_reports_are_retried(controller: FakeController, sock_path: Path,
                                            spool: Path, outdir: Path) -> None:
    controller.fail_reports = True

    async def scenario(agent: Agent) -> None:
        controller.order(launch_order(11, outdir, argv=["true"]))
        await until(lambda: len(controller.seen("/agent/v1/report")) >= 2)
        assert 11 in agent.pending
        controller.fail_reports = False
        await until(lambda: not agent.pending)

    run_agent(sock_path, spool, scenario)


def test_cluster_key_over_tcp(spool: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeController(port=port).start()
    try:
        async def main() -> None:
            agent = Agent(f"http://127.0.0.1:{port}", INVENTORY, spool, cluster_key="s3cret",
                          use_cgroups=False)
            task = asyncio.create_task(agent.run())
            await until(lambda: fake.seen("/agent/v1/poll"))
            agent.stop()
            await task

        asyncio.run(main())
    finally:
        fake.stop()
    assert fake.headers("/agent/v1/register")[0]["x-corral-cluster-key"] == "s3cret"


def test_backoff_is_bounded() -> None:
    b = Backoff()
    delays = []
    for _ in range(8):
        delays.append(b.delay_s)
        b.delay_s = min(b.max_s, b.delay_s * 2)
    assert delays[0] == 0.1 and max(delays) == 2.0


def test_sigterm_stops_the_agent_but_not_its_jobs(controller: FakeController,
                                                  sock_path: Path, spool: Path,
                                                  outdir: Path) -> None:
    pid_file = outdir / "pid"
    agent = subprocess.Popen(
        [sys.executable, "-m", "corral.agent.main", "--controller", f"unix://{sock_path}",
         "--node", "n1", "--cpus", "1", "--mem-mb", "512", "--gpus", "0",
         "--spool", str(spool), "--no-cgroups"],
        stderr=subprocess.PIPE, text=True)
    job_pid = None
    try:
        deadline = time.monotonic() + 10
        while not controller.seen("/agent/v1/poll") and time.monotonic() < deadline:
            time.sleep(0.02)
        controller.order(launch_order(12, outdir, script=f"#!/bin/sh\necho $$ > {pid_file}\n"
                                                         "exec sleep 30\n"))
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.02)
        job_pid = int(pid_file.read_text())
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(5) == 0
        assert psutil.Process(job_pid).status() != psutil.STATUS_ZOMBIE
        assert "Traceback" not in (agent.stderr.read() if agent.stderr else "")
    finally:
        if agent.poll() is None:
            agent.kill()
        if job_pid is not None:
            os.kill(job_pid, signal.SIGKILL)


def test_answers_renew_the_lease_and_a_new_agent_readopts(
        controller: FakeController, sock_path: Path, spool: Path, outdir: Path) -> None:
    """The lease file follows the controller's answers; an agent started on the same
    spool lists the jobs of the one before in its register, with their run."""
    controller.lease_s = 30.0

    async def first(agent: Agent) -> None:
        order = launch_order(11, outdir, argv=["sh", "-c", "sleep 1.5; exit 6"])
        order["launch"]["run"] = 4
        controller.order(order)
        await until(lambda: agent.launcher and agent.launcher.jobs.get(11))
        until_s = float((spool / "lease").read_text())
        assert 29 < until_s - boottime() <= 30.0

    run_agent(sock_path, spool, first)
    second = run_agent(sock_path, spool, lambda agent: until(
        lambda: controller.reports().get(11), timeout_s=10))
    reg = [r for r in controller.seen("/agent/v1/register") if r["boot_id"] == second.boot_id]
    assert [(r["job_id"], r["run"]) for r in reg[0]["running"]] == [(11, 4)]
    report = controller.reports()[11]
    assert (report["state"], report["exit_code"], report["run"]) == ("FAILED", 6, 4)
