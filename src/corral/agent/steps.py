"""Job steps on this node: start a step's tasks, stream their output to the client
that asked for the step (srun), forward its stdin, signal and kill them.

Each task runs as the job's user in a session of its own, through a tiny `/bin/sh`
wrapper that changes to the working directory and opens any output file itself, so
the agent never touches a path on the user's behalf. The step's stream to the
client is one TCP connection per node (framing: corral.model.step). If the client
goes away before the tasks end, they are killed, as Slurm does when srun dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.agent import ptys
from corral.agent.proctree import JobTree, children_map
from corral.agent.protocol import RunningJob, StepLaunch
from corral.agent.spawn import (
    DEFAULT_PATH,
    RunAs,
    StartError,
    gpu_environment,
    resolve_user_of,
)
from corral.logs import log_ids
from corral.model.step import (
    FRAME_EXIT,
    FRAME_HEADER,
    FRAME_HELLO,
    FRAME_STDERR,
    FRAME_STDIN,
    FRAME_STDIN_EOF,
    FRAME_STDOUT,
    expand_task_path,
    frame,
    parse_header,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_CHUNK = 65536
_TASK_WRAPPER = 'cd -- "$1" || exit 1; shift; exec "$@"'
_TASK_WRAPPER_FILES = 'cd -- "$1" || exit 1; exec >>"$2" 2>>"$3" || exit 1; shift 3; exec "$@"'
_TASK_WRAPPER_JOINED = 'cd -- "$1" || exit 1; exec >>"$2" 2>&1 || exit 1; shift 3; exec "$@"'
# The pseudo terminal opened again by the task's shell, a session leader: it becomes its
# controlling terminal, and its process group the terminal's foreground group.
_TASK_WRAPPER_PTY = 'exec <"$2" >"$2" 2>&1 || exit 1; cd -- "$1" || exit 1; shift 2; exec "$@"'
PTY_DRAIN_S = 2.0  # after task 0 exits, how long its terminal's last output may take

Adopt = Callable[[int, int], bool]  # (job id, pid): counted in the job's batch tree?
TICK_S = 0.25


@dataclass(eq=False)
class Extern:
    """A job's processes on a node where its batch script does not run: its step
    tasks, measured (and held to the job's memory per node) here."""

    tree: JobTree
    mem_mb: int | None
    oom: bool = False


@dataclass(eq=False)
class Task:
    rank: int
    proc: asyncio.subprocess.Process
    pty_fd: int | None = None  # the master side of its pseudo terminal (srun --pty)


@dataclass(eq=False)
class RunningStep:
    launch: StepLaunch
    tasks: list[Task] = field(default_factory=list)
    writer: asyncio.StreamWriter | None = None
    done: bool = False
    runner: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.launch.job_id, self.launch.step_id)

    def send(self, sig: int) -> int:
        """Signal every live task's process group; how many got it."""
        n = 0
        for task in self.tasks:
            if task.proc.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(task.proc.pid, sig)
                    n += 1
        return n


class StepRunner:
    def __init__(self, node: str, agent_id: str, io_default_host: str,
                 adopt: Adopt | None = None) -> None:
        self.node = node
        self.agent_id = agent_id
        self.io_default_host = io_default_host
        self.adopt = adopt
        # the CPUs a job is bound to here (agent/binding): its tasks are bound to them too
        self.cpus_of: Callable[[int], tuple[int, ...]] = lambda job_id: ()
        self.steps: dict[tuple[int, int], RunningStep] = {}
        self.extern: dict[int, Extern] = {}
        self._monitor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- public ----------------------------------------------------------------------
    def launch(self, launch: StepLaunch) -> bool:
        key = (launch.job_id, launch.step_id)
        if key in self.steps:
            return False
        step = RunningStep(launch)
        self.steps[key] = step
        step.runner = asyncio.get_running_loop().create_task(self._run(step))
        self._background.add(step.runner)
        step.runner.add_done_callback(self._background.discard)
        return True

    def signal(self, job_id: int, sig: int, step_id: int | None = None) -> int:
        """Signal the tasks of one step (or of every step) of a job; how many got it."""
        return sum(step.send(sig) for step in self._of(job_id, step_id))

    def _of(self, job_id: int, step_id: int | None) -> list[RunningStep]:
        return [step for step in list(self.steps.values())
                if step.launch.job_id == job_id
                and (step_id is None or step.launch.step_id == step_id)]

    def alive(self, job_id: int) -> bool:
        """Whether a task of one of the job's steps still runs here."""
        return any(task.proc.returncode is None
                   for step in self._of(job_id, None) for task in step.tasks)

    def kill_job(self, job_id: int, step_id: int | None = None) -> int:
        """The job (or step) ended: its tasks go at once (SIGKILL)."""
        n = self.signal(job_id, signal.SIGCONT, step_id)
        self.signal(job_id, signal.SIGKILL, step_id)
        return n

    def terminate(self, job_id: int, sig: int, grace_s: float,
                  step_id: int | None = None) -> int:
        """Cancelled: `sig` now, SIGKILL for what is left after `grace_s`."""
        steps = self._of(job_id, step_id)
        n = sum(step.send(signal.SIGCONT) for step in steps)
        for step in steps:
            step.send(sig)
        if n:  # only these steps: a later run's steps of the same job are not ours to kill
            asyncio.get_running_loop().call_later(
                grace_s, lambda: [step.send(signal.SIGKILL) for step in steps])
        return n

    def usage(self) -> list[RunningJob]:
        """What the step tasks of jobs whose batch script is elsewhere use here."""
        return [RunningJob(job_id, ext.tree.root_pid, ext.tree.rss_mb, ext.tree.peak_rss_mb,
                           ext.tree.cpu_s()) for job_id, ext in self.extern.items()]

    def _track(self, sl: StepLaunch, pid: int, uid: int) -> None:
        if self.adopt is not None and self.adopt(sl.job_id, pid):
            return
        ext = self.extern.get(sl.job_id)
        if ext is None:
            self.extern[sl.job_id] = Extern(
                JobTree(pid, uid=uid, job_id=sl.job_id, agent_id=self.agent_id), sl.mem_mb)
            if self._monitor is None or self._monitor.done():
                self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())
        else:
            ext.tree.adopt(pid)

    async def _monitor_loop(self) -> None:
        while self.extern:
            await asyncio.sleep(TICK_S)
            try:
                kids = children_map()
                for job_id, ext in list(self.extern.items()):
                    ext.tree.refresh(kids)
                    rss_mb = ext.tree.sample()
                    if ext.mem_mb is not None and rss_mb > ext.mem_mb and not ext.oom:
                        ext.oom = True
                        log.info("job %d: its steps use %.0f MiB here, over its %d MiB per "
                                 "node; killing them", job_id, rss_mb, ext.mem_mb,
                                 extra=log_ids(job_id=job_id))
                        self._say_oom(job_id, rss_mb, ext.mem_mb)
                        ext.tree.kill_all()
                        self.kill_job(job_id)
            except Exception as exc:  # never let one bad sample stop enforcement
                log.error("step monitor: %s: %s", type(exc).__name__, exc)

    def _say_oom(self, job_id: int, rss_mb: float, mem_mb: int) -> None:
        text = (f"corral: {self.node}: the job's processes use {rss_mb:.0f} MiB here, over "
                f"its {mem_mb} MiB per node: OUT_OF_MEMORY, tasks killed\n").encode()
        for step in self.steps.values():
            if step.launch.job_id == job_id and step.writer is not None and step.tasks:
                step.writer.write(frame(FRAME_STDERR, step.tasks[0].rank, text))

    def _forget_extern(self, job_id: int) -> None:
        if not any(k[0] == job_id for k in self.steps):
            self.extern.pop(job_id, None)

    async def close(self) -> None:
        for key in list(self.steps):
            self.kill_job(*key)
        if self._monitor is not None:
            self._monitor.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- one step on this node -------------------------------------------------------
    async def _run(self, step: RunningStep) -> None:
        sl = step.launch
        try:
            reader, step.writer = await self._connect(sl)
        except (OSError, TimeoutError) as exc:
            log.warning("step %d.%d: cannot reach its client at %s:%d (%s)", sl.job_id,
                        sl.step_id, sl.io_host or self.io_default_host, sl.io_port, exc,
                        extra=log_ids(job_id=sl.job_id))
            self.steps.pop(step.key, None)
            return
        try:
            await self._send(step, frame(FRAME_HELLO, 0, json.dumps(
                {"key": sl.io_key, "step_id": sl.step_id, "node": self.node,
                 "ranks": list(sl.ranks)}).encode()))
            try:
                run_as = resolve_user_of(sl.uid, sl.gid, sl.user)
                for local_id, rank in enumerate(sl.ranks):
                    step.tasks.append(await self._start(sl, run_as, rank, local_id))
            except (StartError, OSError) as exc:
                msg = f"{self.node}: cannot start task: {exc}\n".encode()
                for rank in sl.ranks:
                    if rank not in {t.rank for t in step.tasks}:
                        await self._send(step, frame(FRAME_STDERR, rank, msg))
                        await self._send(step, frame(FRAME_EXIT, rank, b'{"exit_code": 1}'))
            stdin_task = asyncio.create_task(self._forward_stdin(step, reader))
            await asyncio.gather(*(self._follow(step, t) for t in step.tasks))
            stdin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stdin_task
        except (ConnectionError, OSError) as exc:
            log.info("step %d.%d: client gone (%s); killing its tasks", sl.job_id,
                     sl.step_id, exc, extra=log_ids(job_id=sl.job_id))
        finally:
            step.done = True
            step.send(signal.SIGKILL)
            for task in step.tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task.proc.wait(), 5)
                if task.pty_fd is not None:
                    os.close(task.pty_fd)
                    task.pty_fd = None
            if step.writer is not None:
                step.writer.close()
                with contextlib.suppress(Exception):
                    await step.writer.wait_closed()
            self.steps.pop(step.key, None)
            self._forget_extern(sl.job_id)

    async def _connect(self, sl: StepLaunch) -> tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]:
        host = sl.io_host or self.io_default_host
        return await asyncio.wait_for(asyncio.open_connection(host, sl.io_port),
                                      CONNECT_TIMEOUT_S)

    @staticmethod
    async def _send(step: RunningStep, data: bytes) -> None:
        assert step.writer is not None
        step.writer.write(data)
        await step.writer.drain()

    def _environment(self, sl: StepLaunch, run_as: RunAs, rank: int,
                     local_id: int) -> dict[str, str]:
        env = dict(sl.environment)
        env.setdefault("PATH", DEFAULT_PATH)
        if run_as.switch:
            env.update(HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
        nodes = ",".join(sl.step_nodes)
        values = {
            "JOB_ID": str(sl.job_id), "JOBID": str(sl.job_id), "STEP_ID": str(sl.step_id),
            "STEPID": str(sl.step_id), "PROCID": str(rank), "LOCALID": str(local_id),
            "NODEID": str(sl.node_index), "NTASKS": str(sl.ntasks), "NPROCS": str(sl.ntasks),
            "NNODES": str(len(sl.step_nodes)), "STEP_NUM_TASKS": str(sl.ntasks),
            "STEP_NUM_NODES": str(len(sl.step_nodes)), "STEP_NODELIST": nodes,
            "STEP_TASKS_PER_NODE": sl.tasks_per_node, "TASKS_PER_NODE": sl.tasks_per_node,
            "CPUS_PER_TASK": str(sl.cpus_per_task),
            # where srun listens (its I/O, its PMI server): what this agent connects to
            "LAUNCH_NODE_IPADDR": sl.io_host or self.io_default_host,
        }
        for key, value in values.items():
            env[f"SLURM_{key}"] = value
        env["SLURMD_NODENAME"] = env["CORRAL_NODENAME"] = self.node
        env["CORRAL_JOB_ID"] = str(sl.job_id)
        env["CORRAL_STEP_ID"] = str(sl.step_id)
        env["CORRAL_AGENT_ID"] = self.agent_id  # marks the job's processes (proctree)
        env["PMI_RANK"], env["PMI_SIZE"] = str(rank), str(sl.ntasks)
        env.update(gpu_environment(sl.gpu_ids))  # this node's devices, not the batch node's
        return env

    async def _start(self, sl: StepLaunch, run_as: RunAs, rank: int, local_id: int) -> Task:
        def path(pattern: str) -> str:
            return expand_task_path(pattern, job_id=sl.job_id, step_id=sl.step_id, rank=rank,
                                    node_index=sl.node_index, node=self.node, user=sl.user,
                                    name=sl.name, array_job_id=sl.array_job_id,
                                    array_task_id=sl.array_task_id)
        if sl.stdout:
            out = path(sl.stdout)
            err = path(sl.stderr) if sl.stderr else out
            body = _TASK_WRAPPER_JOINED if err == out else _TASK_WRAPPER_FILES
            argv = ["/bin/sh", "-c", body, "corral-task", sl.working_dir, out, err, *sl.argv]
            # until the wrapper has opened the files, its complaints reach the client
            stdout, stderr = asyncio.subprocess.DEVNULL, asyncio.subprocess.PIPE
        else:
            argv = ["/bin/sh", "-c", _TASK_WRAPPER, "corral-task", sl.working_dir, *sl.argv]
            stdout = stderr = asyncio.subprocess.PIPE
        wants_stdin = sl.stdin == "all" or sl.stdin == str(rank)
        kwargs: dict[str, Any] = {}
        if run_as.switch:
            kwargs = {"user": run_as.uid, "group": run_as.gid,
                      "extra_groups": list(run_as.groups)}
        if sl.pty and rank == 0:
            return await self._start_pty(sl, run_as, rank, local_id, kwargs)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if wants_stdin else asyncio.subprocess.DEVNULL,
            stdout=stdout, stderr=stderr, env=self._environment(sl, run_as, rank, local_id),
            cwd="/", start_new_session=True, **kwargs)
        self._bind(sl.job_id, proc.pid)
        self._track(sl, proc.pid, run_as.uid)
        return Task(rank, proc)

    def _bind(self, job_id: int, pid: int) -> None:
        """The task on its job's CPUs (set as it starts: what it forks inherits them)."""
        cpus = self.cpus_of(job_id)
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, cpus)

    async def _start_pty(self, sl: StepLaunch, run_as: RunAs, rank: int, local_id: int,
                         kwargs: dict[str, Any]) -> Task:
        """Task `rank` with a pseudo terminal of the client's window size as its
        stdin, stdout, stderr and controlling terminal."""
        master, slave, name = ptys.open_pty(sl.pty_rows, sl.pty_cols,
                                            run_as.uid if run_as.switch else None)
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", _TASK_WRAPPER_PTY, "corral-task", sl.working_dir, name,
                *sl.argv, stdin=slave, stdout=slave, stderr=slave,
                env=self._environment(sl, run_as, rank, local_id), cwd="/",
                start_new_session=True, **kwargs)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._bind(sl.job_id, proc.pid)
        self._track(sl, proc.pid, run_as.uid)
        return Task(rank, proc, pty_fd=master)

    async def _follow(self, step: RunningStep, task: Task) -> None:
        async def pump(stream: asyncio.StreamReader | None, kind: int) -> None:
            if stream is None:
                return
            while chunk := await stream.read(READ_CHUNK):
                await self._send(step, frame(kind, task.rank, chunk))
        if task.pty_fd is not None:
            pumping = asyncio.create_task(ptys.pump(
                task.pty_fd, lambda chunk: self._send(step, frame(FRAME_STDOUT, task.rank,
                                                                  chunk))))
            code = await task.proc.wait()
            with contextlib.suppress(Exception):  # a child may hold it on: not for ever
                await asyncio.wait_for(pumping, PTY_DRAIN_S)
            if task.pty_fd is not None:
                os.close(task.pty_fd)
                task.pty_fd = None
        else:
            await asyncio.gather(pump(task.proc.stdout, FRAME_STDOUT),
                                 pump(task.proc.stderr, FRAME_STDERR))
            code = await task.proc.wait()
        body: dict[str, Any] = {"signal": -code} if code < 0 else {"exit_code": code}
        ext = self.extern.get(step.launch.job_id)
        if ext is not None and ext.oom:
            body["out_of_memory"] = True
        await self._send(step, frame(FRAME_EXIT, task.rank, json.dumps(body).encode()))

    async def _forward_stdin(self, step: RunningStep, reader: asyncio.StreamReader) -> None:
        """Client -> tasks: stdin bytes and EOFs; EOF on the stream: the client is gone."""
        by_rank = {t.rank: t for t in step.tasks}
        while True:
            try:
                header = await reader.readexactly(FRAME_HEADER.size)
                kind, rank, length = parse_header(header)
                payload = await reader.readexactly(length) if length else b""
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                if not step.done:
                    step.send(signal.SIGKILL)
                return
            receiver = by_rank.get(rank)
            if receiver is not None and receiver.pty_fd is not None:
                # a terminal: an end of input is its EOF character, as typed
                await ptys.write(receiver.pty_fd, payload if kind == FRAME_STDIN else b"\x04")
                continue
            stdin = receiver.proc.stdin if receiver is not None else None
            if stdin is None:
                continue
            with contextlib.suppress(ConnectionError, OSError):
                if kind == FRAME_STDIN:
                    stdin.write(payload)
                    await stdin.drain()
                elif kind == FRAME_STDIN_EOF:
                    stdin.close()

