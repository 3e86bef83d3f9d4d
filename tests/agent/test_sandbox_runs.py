"""SandboxRuns: a job whose input files are still coming counts as started here (the
controller's launch checks must not take it for lost), then starts once they are in."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx

from corral.agent.protocol import JobReport, Launch
from corral.agent.sandbox import SandboxRuns
from corral.model.sandbox import Entry


def _launch(workdir: Path, digest: str, run: int) -> Launch:
    return Launch(job_id=7, name="t", user="root", uid=0, gid=0, script="#!/bin/sh\n",
                  argv=(), working_dir=str(workdir), environment={}, stdout="o",
                  stderr="o", time_limit_s=0, mem_mb=None, cpus=1, gpus=0,
                  node_list=("n",), kill_grace_s=1, run=run,
                  input_sandbox=(Entry(digest, False, "in.dat").text(),))


def test_a_job_getting_its_files_is_reported_running(tmp_path: Path) -> None:
    data = b"x" * 100_000
    digest = hashlib.sha256(data).hexdigest()
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()  # a large file, slow to come
        return httpx.Response(200, content=data)

    async def scenario() -> None:
        runs = SandboxRuns()
        started: list[Launch] = []
        failed: list[JobReport] = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                     base_url="http://controller") as client:
            assert runs.launch(_launch(tmp_path, digest, 2), client,
                               lambda la: started.append(la) is None, failed.append)
            await asyncio.sleep(0.05)
            assert [(r.job_id, r.run, r.pid) for r in runs.running()] == [(7, 2, 0)]
            assert not started
            assert not runs.launch(_launch(tmp_path, digest, 2), client,
                                   lambda la: True, failed.append)  # a resent order
            release.set()
            for _ in range(100):
                if started:
                    break
                await asyncio.sleep(0.02)
        assert [la.run for la in started] == [2] and not failed
        assert runs.running() == []
        assert (tmp_path / "in.dat").read_bytes() == data

    asyncio.run(scenario())
