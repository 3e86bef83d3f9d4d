"""A job's sandbox files on its batch node (docs/job-languages.md, sandboxes).

Before the start, each input file (`SHA256:MODE:NAME`) is fetched from the controller
(GET /agent/v1/sandboxes/SHA256, the cluster key) into the working directory; a file
already there with the same content is kept, one with other content fails the job.
After the end, each output file the job left there is sent back (PUT
/agent/v1/jobs/ID/output?name=NAME); those it did not write are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from corral.agent.protocol import JobReport, Launch, RunningJob
from corral.logs import log_ids
from corral.model.sandbox import CHUNK_BYTES, Entry

log = logging.getLogger("corral.agent.sandbox")
TRANSFER_TIMEOUT_S = 300.0


class StagingError(Exception):
    """An input file that could not be put in place: the job fails with this."""


def _sha256_of(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


async def stage_inputs(client: httpx.AsyncClient, launch: Launch) -> None:
    """Every input file in the working directory, or StagingError naming the first
    that is not."""
    workdir = Path(launch.working_dir)
    deadline = time.monotonic() + launch.output_wait_s  # as the launcher waits for it
    while not workdir.is_dir() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if not workdir.is_dir():
        raise StagingError(f"input sandbox: the working directory {workdir} does not exist")
    for text in launch.input_sandbox:
        entry = Entry.parse(text)
        target = workdir / entry.name
        if target.is_symlink() or target.exists():
            if target.is_file() and not target.is_symlink() \
                    and _sha256_of(target) == entry.digest:
                continue
            raise StagingError(f"input sandbox: {target} exists with other content; "
                               f"not replaced")
        await _fetch(client, entry, target, launch)


async def _fetch(client: httpx.AsyncClient, entry: Entry, target: Path,
                 launch: Launch) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{entry.name}.")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            async with client.stream("GET", f"/agent/v1/sandboxes/{entry.digest}",
                                     timeout=TRANSFER_TIMEOUT_S) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise StagingError(f"input sandbox: {entry.name}: the controller "
                                       f"answered {resp.status_code}: {resp.text[:200]}")
                async for chunk in resp.aiter_bytes():
                    h.update(chunk)
                    f.write(chunk)
        if h.hexdigest() != entry.digest:
            raise StagingError(f"input sandbox: {entry.name}: received content does not "
                               f"match its sha256 {entry.digest}")
        os.chmod(tmp, 0o755 if entry.executable else 0o644)
        if os.geteuid() == 0:
            os.chown(tmp, launch.uid, launch.gid)
        os.replace(tmp, target)
    except httpx.HTTPError as exc:
        raise StagingError(f"input sandbox: {entry.name}: cannot fetch it from the "
                           f"controller ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _readable_output(workdir: Path, name: str, uid: int) -> Path | None:
    """The output file, if it is a regular file inside the working directory (and,
    for an agent running as root, the job's own)."""
    path = workdir / name
    try:
        real = path.resolve(strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(workdir.resolve()) or not stat.S_ISREG(st.st_mode):
        return None
    if os.geteuid() == 0 and st.st_uid != uid:
        return None
    return real


async def collect_outputs(client: httpx.AsyncClient, launch: Launch) -> list[str]:
    """Send the job's output files to the controller; the names sent."""
    workdir = Path(launch.working_dir)
    sent = []
    for name in launch.output_sandbox:
        path = _readable_output(workdir, name, launch.uid)
        if path is None:
            log.info("job %d: output sandbox file %s not found", launch.job_id, name,
                     extra=log_ids(job_id=launch.job_id))
            continue
        try:
            with path.open("rb") as f:  # streamed: its length first, so the controller
                size = os.fstat(f.fileno()).st_size  # refuses one over its limit at once

                async def chunks(f: BinaryIO = f) -> AsyncIterator[bytes]:
                    while chunk := f.read(CHUNK_BYTES):
                        yield chunk
                resp = await client.put(f"/agent/v1/jobs/{launch.job_id}/output",
                                        params={"name": name}, content=chunks(),
                                        headers={"Content-Length": str(size)},
                                        timeout=TRANSFER_TIMEOUT_S)
        except (OSError, httpx.HTTPError) as exc:
            log.warning("job %d: output sandbox file %s not sent: %s", launch.job_id, name,
                        exc, extra=log_ids(job_id=launch.job_id))
            continue
        if resp.status_code != 201:
            log.warning("job %d: output sandbox file %s refused: %s", launch.job_id, name,
                        resp.text[:200], extra=log_ids(job_id=launch.job_id))
            continue
        sent.append(name)
    return sent


class SandboxRuns:
    """The jobs of this agent with sandbox files: a launch waits for its input files;
    an end report waits for its output files to be sent."""

    def __init__(self) -> None:
        self.staging: dict[int, bool] = {}  # job -> cancelled while its files came
        self.staging_run: dict[int, int] = {}  # job -> the run whose files come
        self.outputs: dict[int, Launch] = {}  # job -> its launch, until its end
        self._tasks: set[asyncio.Task[None]] = set()

    def busy(self) -> bool:
        """Files are being fetched or sent for some job."""
        return bool(self._tasks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def launch(self, launch: Launch, client: httpx.AsyncClient | None,
               start: Callable[[Launch], bool], fail: Callable[[JobReport], None]) -> bool:
        """Start the run (after its input files are in place); False if it already runs
        or is being staged here."""
        if launch.job_id in self.staging:
            return False
        if launch.output_sandbox:
            self.outputs[launch.job_id] = launch
        if not launch.input_sandbox or client is None:
            return start(launch)
        self.staging[launch.job_id] = False
        self.staging_run[launch.job_id] = launch.run
        self._spawn(self._stage(launch, client, start, fail))
        return True

    async def _stage(self, launch: Launch, client: httpx.AsyncClient,
                     start: Callable[[Launch], bool], fail: Callable[[JobReport], None]
                     ) -> None:
        t_start = time.time()
        message = None
        try:
            await stage_inputs(client, launch)
        except StagingError as exc:
            message = str(exc)
        except Exception as exc:  # a job must end with a report, whatever happened
            message = f"input sandbox: {type(exc).__name__}: {exc}"
        cancelled = self.staging.pop(launch.job_id, False)
        self.staging_run.pop(launch.job_id, None)
        if message is None and not cancelled:
            start(launch)
            return
        self.outputs.pop(launch.job_id, None)
        report = JobReport(launch.job_id, "CANCELLED" if cancelled else "FAILED",
                           t_start=t_start, t_end=time.time(), run=launch.run,
                           exit_code=None if cancelled else 1,
                           message=message or "")
        report.cancelled = cancelled
        if message:
            log.warning("job %d: %s", launch.job_id, message,
                        extra=log_ids(job_id=launch.job_id))
        fail(report)

    def running(self) -> list[RunningJob]:
        """The jobs whose input files are coming: started here, as far as the
        controller is concerned (a large file may take longer than its launch checks)."""
        return [RunningJob(job_id, 0, run=run) for job_id, run in self.staging_run.items()]

    def cancel(self, job_id: int) -> bool:
        """A cancel while the input files come: the job does not start."""
        if job_id not in self.staging:
            return False
        self.staging[job_id] = True
        return True

    def collect(self, report: JobReport, client: httpx.AsyncClient | None,
                then: Callable[[JobReport], None]) -> bool:
        """True: the output files are being sent; `then(report)` once they are."""
        launch = self.outputs.pop(report.job_id, None)
        if launch is None or client is None or launch.run != report.run:
            return False

        async def send() -> None:
            try:
                await collect_outputs(client, launch)
            finally:
                then(report)
        self._spawn(send())
        return True
