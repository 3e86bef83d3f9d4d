"""The agent's conversation with the controller (docs/specs/02-agent-protocol.md).

Two loops share one httpx client:
- the order loop registers (again after any lost connection), then long-polls for
  orders and carries them out at once;
- the report loop sends every finished job's report as soon as it exists and keeps
  it until a 200 acknowledges it (or a register carrying it in `finished` does).
On any failure running jobs are left alone; the loops retry with a bounded backoff.

Orders also start job steps (srun) on this node; their output goes straight to
the client that asked for them (corral.agent.steps), never through the controller.

Every answer from the controller renews the node's lease (the `lease` file in the
spool, corral.agent.runs): each job's supervisor kills its job once the lease has
lapsed, so a node cut off from the controller ends its jobs by itself, in a time
the controller knows (docs/specs/02-agent-protocol.md §2.6).

On SIGTERM the agent stops polling, tries briefly to deliver pending reports and
exits; the jobs keep running under their supervisors. A restarted agent re-adopts
them from the spool (corral.agent.readopt) and re-sends the reports it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from corral import __version__
from corral.agent import runs, topology
from corral.agent.binding import CpuAllocator
from corral.agent.cgroup import CgroupManager
from corral.agent.credentials import CredentialFiles
from corral.agent.health import HealthCheck, HealthSettings
from corral.agent.inventory import Inventory
from corral.agent.launcher import TICK_S, Launcher
from corral.agent.leaders import LeaderFinder
from corral.agent.pilot import KILL_SLACK_S, KILL_WAIT_S, LEAVE_CHECK_S, PilotSettings, why_leave
from corral.agent.prolog import JobScripts, ScriptSettings
from corral.agent.protocol import (
    JobFacts,
    JobReport,
    Order,
    ProtocolError,
    RunningJob,
    StepLaunch,
)
from corral.agent.sandbox import SandboxRuns
from corral.agent.steps import StepRunner
from corral.agent.supervise import boottime
from corral.client.transport import tls_context
from corral.logs import log_ids
from corral.model.agent_messages import (
    MAX_MESSAGE_CHARS,
    AgentCheck,
    AgentHealth,
    AgentLeave,
    AgentPoll,
    AgentRegister,
    AgentReport,
    problem,
)
from corral.model.pilots import PILOT_TOKEN_HEADER

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 2.0
DEFAULT_HEARTBEAT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
FAILOVER_MARGIN_S = 4.0  # several controllers: a poll's margin, a connection's limit
SHUTDOWN_FLUSH_S = 1.0
STEP_WAIT_POLL_S = 0.05  # a killed job whose batch ended: how often its steps are checked


class ControllerError(Exception):
    """The controller could not be reached or answered with an error."""


class RegisterFirstError(Exception):
    """409: the controller does not know this agent (or its boot_id) any more."""


def message(model: type[BaseModel], /, **fields: Any) -> dict[str, Any]:
    """A message to the controller, built and checked by the typed definition the
    controller parses it with (corral.model.agent_messages). One this agent could not
    send is a ControllerError naming the field, as the controller's 400 would be."""
    try:
        msg = model.model_validate(fields)
    except ValidationError as e:
        raise ControllerError(f"{model.__name__}: {problem(e)}") from None
    body: dict[str, Any] = msg.model_dump(mode="json")
    return body


class Backoff:
    def __init__(self, min_s: float = BACKOFF_MIN_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.min_s, self.max_s = min_s, max_s
        self.delay_s = min_s

    def reset(self) -> None:
        self.delay_s = self.min_s

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay_s)
        self.delay_s = min(self.max_s, self.delay_s * 2)


def controller_host(controller: str) -> str:
    """The host the controller runs on, as this node reaches it (step I/O default)."""
    if controller.startswith(("http://", "https://")):
        hostport = controller.split("://", 1)[1].split("/", 1)[0]
        host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
        return host.strip("[]")
    return "127.0.0.1"


def own_address(controller: str) -> str:
    """This node's address on the path to the controller (where step clients listen)."""
    host = controller_host(controller)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))  # a UDP connect sends nothing; it picks the route
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def make_client(controller: str, cluster_key: str | None,
                connect_s: float = REQUEST_TIMEOUT_S,
                pilot_token: str | None = None) -> httpx.AsyncClient:
    """`unix:///path/to/sock` or `http(s)://host:port`. A pilot presents its token
    instead of the cluster key (docs/pilots.md)."""
    headers = {"X-Corral-Cluster-Key": cluster_key} if cluster_key else {}
    if pilot_token:
        headers = {PILOT_TOKEN_HEADER: pilot_token}
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=connect_s)
    if controller.startswith("unix://"):
        transport = httpx.AsyncHTTPTransport(uds=controller.removeprefix("unix://"))
        return httpx.AsyncClient(transport=transport, base_url="http://corral",
                                 headers=headers, timeout=timeout)
    if controller.startswith(("http://", "https://")):
        # https: the system's CAs and CORRAL_CA_FILE's
        verify = tls_context() if controller.startswith("https://") else True
        return httpx.AsyncClient(base_url=controller.rstrip("/"), headers=headers,
                                 timeout=timeout, verify=verify)
    raise ValueError(f"controller {controller!r}: use unix:///path, http://host:port or "
                     f"https://host:port")


def _machine_cpus() -> set[int]:
    """The CPUs this process may run on (binding a job to others fails)."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


class Agent:
    def __init__(self, controller: str, inventory: Inventory, spool: Path, *,
                 cluster_key: str | None = None, use_cgroups: bool = True,
                 tick_s: float | None = None, bind_cpus: bool = True,
                 site: str | None = None, pilot: PilotSettings | None = None,
                 pilot_token: str | None = None) -> None:
        # the controllers sharing one database: the one answering is the leader
        self.leaders = LeaderFinder(controller, spool)
        self.controller = self.leaders.url
        self.inventory = inventory
        self.spool = spool
        self.cluster_key = cluster_key
        self.boot_id = str(uuid.uuid4())
        self.use_cgroups = use_cgroups
        # the CPUs as they are (None: unreadable); jobs are bound to some of them
        self.topology = topology.detect()
        self.bind_cpus = bind_cpus and self.topology is not None
        self.tick_s = tick_s
        self.heartbeat_s = DEFAULT_HEARTBEAT_S
        self.lease_s: float | None = None  # as the controller grants it (None: no lease)
        self.registered = False
        self._grace_until: dict[int, float] = {}  # job -> end of its kill grace period
        self._waiters: set[asyncio.Task[None]] = set()
        self.pending: dict[int, JobReport] = {}  # finished, not yet acknowledged
        self._reports_ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._reachable: bool | None = None
        self._switched = False  # the last failure moved to another controller
        self.launcher: Launcher | None = None
        self.steps: StepRunner | None = None
        self.client: httpx.AsyncClient | None = None
        self.health = HealthCheck(inventory.node, self._send_health)
        self.scripts = JobScripts(inventory.node, self._send_check)
        self.credentials = CredentialFiles(spool)  # --credential jobs' tokens
        self.sandboxes = SandboxRuns()  # jobs with sandbox files (agent/sandbox.py)
        self.site = pilot.site if pilot is not None else site
        self.pilot = pilot  # a pilot in a site's batch system (agent/pilot.py)
        self.pilot_token = pilot_token
        self._killed = False  # a pilot its batch system ends: its jobs are lost
        self._killed_at = 0.0
        self._left = False  # a pilot the controller has forgotten: it registers no more

    # -- life cycle --------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Serve until stop() (or SIGTERM/SIGINT when installed by main)."""
        cgroups = CgroupManager.detect(self.boot_id[:8]) if self.use_cgroups else None
        self.launcher = Launcher(self.spool, self.boot_id, self._on_report,
                                 cgroups=cgroups, tick_s=self.tick_s or TICK_S,
                                 lease_file=self.spool / runs.LEASE_FILE)
        self.launcher.scripts = self.scripts
        if self.bind_cpus and self.topology is not None:
            self.launcher.cpu_alloc = CpuAllocator(
                self.topology, _machine_cpus() if topology.recorded_root() else None)
        for report in self.launcher.readopt():  # the runs of a previous agent
            self.pending.setdefault(report.job_id, report)
        self.steps = StepRunner(self.inventory.node, self.boot_id,
                                controller_host(self.controller), adopt=self.launcher.adopt)
        alloc = self.launcher.cpu_alloc
        if alloc is not None:
            self.steps.cpus_of = lambda job_id: alloc.kernel(alloc.held.get(job_id, ()))
        self.client = self._client(self.controller)
        log.info("agent %s starting: %d CPUs, %d MiB, %d GPUs, controller %s",
                 self.inventory.node, self.inventory.cpus, self.inventory.mem_mb,
                 self.inventory.gpus, self.controller)
        loops = [asyncio.create_task(self._order_loop()),
                 asyncio.create_task(self._report_loop())]
        if self.pilot is not None:
            loops.append(asyncio.create_task(self._pilot_loop()))
        try:
            await self._stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.health.close()
            await self.scripts.close()
            await self._flush_reports()
            await self.steps.close()
            await self.launcher.close()
            await self.client.aclose()
            running = len(self.launcher.jobs)
            log.info("agent stopped; %d running job(s) left in their sessions", running)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop if self.pilot is None else self._kill_pilot)

    def _client(self, url: str) -> httpx.AsyncClient:
        return make_client(url, self.cluster_key, self._connect_s(), self.pilot_token)

    # -- a pilot (agent/pilot.py) --------------------------------------------------------
    async def _pilot_loop(self) -> None:
        """Leave when idle for the idle timeout or at the deadline: the controller
        forgets the node unless a job was just placed on it (then run that first)."""
        assert self.pilot is not None and self.launcher is not None
        idle_since: float | None = time.time()
        while not self._killed:
            await asyncio.sleep(LEAVE_CHECK_S)
            now = time.time()
            busy = bool(self.launcher.running() or self.pending or self.sandboxes.busy())
            if busy:
                idle_since = None
                continue
            if idle_since is None:
                idle_since = now
            why = why_leave(self.pilot, now, idle_since)
            if why is None:
                continue
            if not self.registered:  # the controller does not take it: no use waiting
                log.error("pilot %s: not registered with the controller (%s); exiting",
                          self.inventory.node, why)
                self.stop()
                return
            try:
                if not await self._leave(why):  # a job came meanwhile: run it first
                    idle_since = None
                    continue
            except ControllerError as exc:
                log.warning("pilot %s could not leave (%s); retrying", self.inventory.node,
                            exc)
                continue
            log.info("pilot %s leaves: %s", self.inventory.node, why)
            self.stop()
            return

    def _kill_pilot(self) -> None:
        """SIGTERM from the batch system (scancel, the wall time): the allocation ends,
        and the jobs with it. They are killed and reported lost (the controller
        requeues them as a lost node's); then the pilot exits."""
        if self._killed:
            return
        self._killed = True
        self._killed_at = time.time()
        log.warning("pilot %s: terminated by its batch system; its jobs are lost",
                    self.inventory.node)
        task = asyncio.get_running_loop().create_task(self._end_pilot())
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)

    async def _end_pilot(self) -> None:
        """The controller first marks the node ending (no job is placed here any
        more), then hears of its jobs, killed and lost (they are requeued elsewhere),
        and last forgets the node."""
        assert self.launcher is not None
        why = "ended by its batch system"
        left = False
        try:
            left = await self._leave(why, ending=True)
        except ControllerError as exc:
            log.warning("pilot %s: could not tell the controller (%s)", self.inventory.node,
                        exc)
        deadline = time.monotonic() + KILL_WAIT_S
        while self.launcher.jobs and time.monotonic() < deadline:
            for r in self.launcher.running():
                self.launcher.cancel(r.job_id, signal.SIGKILL, 0)
            await asyncio.sleep(0.1)
        with contextlib.suppress(ControllerError, RegisterFirstError):
            if self.pending:  # lost: the controller requeues them at once
                await self._send_reports(timeout_s=SHUTDOWN_FLUSH_S)
            if not left:
                await self._leave(why, ending=True, timeout_s=SHUTDOWN_FLUSH_S)
        self.stop()

    async def _leave(self, why: str, *, ending: bool = False,
                     timeout_s: float = REQUEST_TIMEOUT_S) -> bool:
        """Ask the controller to forget this node: False while it has jobs here."""
        try:
            await self._post("/agent/v1/leave", message(
                AgentLeave, node=self.inventory.node, boot_id=self.boot_id, why=why,
                ending=ending), timeout_s=timeout_s)
        except RegisterFirstError as exc:  # a job is (or was just) placed here
            log.info("pilot %s stays for now: %s", self.inventory.node, exc)
            return False
        self._left = True
        return True

    # -- HTTP --------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any],
                    timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        client = self.client
        assert client is not None
        t_sent = boottime()
        try:
            resp = await client.post(path, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            self._switch(client, None)
            raise ControllerError(f"{type(exc).__name__}: {exc or 'no answer'}") from None
        if resp.status_code == 409:
            raise RegisterFirstError(resp.text)
        if resp.status_code != 200:
            self._switch(client, resp)
            raise ControllerError(f"{path} answered {resp.status_code}: {resp.text[:200]}")
        try:
            data = resp.json()
        except ValueError:
            raise ControllerError(f"{path} answered with invalid JSON") from None
        if not isinstance(data, dict):
            raise ControllerError(f"{path} answered with a non-object")
        if not self.leaders.accept_epoch(data.get("epoch"),
                                         registered=path.endswith("/register")):
            self._switch(client, None)  # a deposed leader: it renews no lease here
            raise ControllerError(f"{self.controller} answered for epoch "
                                  f"{data.get('epoch')}, older than the leader's "
                                  f"{self.leaders.epoch}")
        if self.registered or path.endswith("/register"):
            self.lease_s = runs.renew_lease(self.spool, t_sent,
                                            data.get("lease_s", self.lease_s))
        return data

    def _connect_s(self) -> float:
        return FAILOVER_MARGIN_S if self.leaders.several else REQUEST_TIMEOUT_S

    def _switch(self, failed: httpx.AsyncClient, resp: httpx.Response | None) -> None:
        """The controller behind `failed` does not lead (or did not answer): talk to
        the next of the list, or to the leader it named."""
        if failed is not self.client or not self.leaders.several:
            return
        url = self.leaders.next(resp.text if resp is not None else None)
        log.info("trying the controller at %s", url)
        self.controller = url
        self.client = self._client(url)
        self.registered = False
        self._switched = True
        task = asyncio.get_running_loop().create_task(failed.aclose())
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)

    def _set_reachable(self, ok: bool, why: str = "") -> None:
        if ok and self._reachable is not True:
            log.info("controller reachable; registered as %s", self.inventory.node)
        elif not ok and self._reachable is not False:
            log.error("controller unreachable (%s); jobs keep running, retrying", why)
        self._reachable = ok

    # -- the order loop ----------------------------------------------------------------
    async def _order_loop(self) -> None:
        backoff = Backoff()
        while not self._left:
            try:
                if not self.registered:
                    await self._register()
                await self._poll()
                backoff.reset()
            except RegisterFirstError:
                log.info("controller asks to register again")
                self.registered = False
            except ControllerError as exc:
                self.registered = False
                self._set_reachable(False, str(exc))
                if self._switched:  # another controller to try: at once
                    self._switched = False
                    backoff.reset()
                await backoff.sleep()
            except Exception as exc:  # a bug must not kill the agent
                log.error("order loop: %s: %s", type(exc).__name__, exc)
                self.registered = False
                await backoff.sleep()

    async def _register(self) -> None:
        assert self.launcher is not None
        sent = dict(self.pending)
        last = self.health.last  # a new controller learns it at once (§6)
        body = message(AgentRegister, **self.inventory.to_dict(), agent_version=__version__,
                       boot_id=self.boot_id, address=own_address(self.controller),
                       running=[r.to_dict() for r in self._running()],
                       finished=[r.to_dict() for r in sent.values()],
                       topology=self.topology.summary() if self.topology else None,
                       site=self.site,
                       deadline=self.pilot.deadline if self.pilot else None,
                       batch_job=self.pilot.batch_job if self.pilot else "",
                       health=None if last is None else {
                           "ok": last[0], "message": last[1][:MAX_MESSAGE_CHARS]})
        data = await self._post("/agent/v1/register", body)
        self._acknowledge(sent)
        hb = data.get("heartbeat_s")
        if isinstance(hb, int | float) and not isinstance(hb, bool) and hb > 0:
            self.heartbeat_s = float(hb)
        self.registered = True
        self._set_reachable(True)
        self._configure(data.get("agent"))
        if self.pending:
            self._reports_ready.set()
        self._handle_orders(data.get("orders"))

    def _configure(self, config: object) -> None:
        """The site's health check, prolog and epilog, as the controller says (§6)."""
        if isinstance(config, dict):
            self.scripts.configure(ScriptSettings.from_config(config))
            self.health.configure(HealthSettings.from_config(config))

    async def _send_health(self, ok: bool, text: str) -> None:
        if not self.registered:
            raise ControllerError("not registered")
        await self._post("/agent/v1/health", message(
            AgentHealth, node=self.inventory.node, boot_id=self.boot_id, ok=ok,
            message=text[:MAX_MESSAGE_CHARS]))

    async def _send_check(self, kind: str, job: JobFacts, text: str) -> None:
        """A prolog or epilog failed here, on one of the job's other nodes (§6)."""
        await self._post("/agent/v1/check", message(
            AgentCheck, node=self.inventory.node, boot_id=self.boot_id, kind=kind,
            job_id=job.job_id, run=job.run, message=text[:MAX_MESSAGE_CHARS]))

    def _running(self) -> list[RunningJob]:
        """The jobs started here: running, in their prolog, or getting their files."""
        assert self.launcher is not None
        return [*self.launcher.running(), *self.sandboxes.running()]

    async def _poll(self) -> None:
        assert self.launcher is not None
        body = message(
            AgentPoll, node=self.inventory.node, boot_id=self.boot_id,
            running=[r.to_dict() for r in self._running()],
            steps_usage=[r.to_dict() for r in self.steps.usage()] if self.steps else [],
            unacknowledged=sorted(self.pending), wait_s=self.heartbeat_s)
        # with other controllers to turn to, a leader cut off (silent) is left sooner:
        # well within the node's lease, its jobs' lives depend on it
        margin_s = FAILOVER_MARGIN_S if self.leaders.several else REQUEST_TIMEOUT_S
        data = await self._post("/agent/v1/poll", body,
                                timeout_s=self.heartbeat_s + margin_s)
        self._handle_orders(data.get("orders"))

    def _handle_orders(self, orders: object) -> None:
        if not isinstance(orders, list):
            return
        for raw in orders:
            if not self.leaders.order_current(raw):
                continue
            try:
                self._handle_order(Order.from_dict(raw))
            except ProtocolError as exc:
                self._bad_order(raw, str(exc))
            except Exception as exc:  # one bad order must not stop the others
                log.error("order %r: %s: %s", _without_tokens(raw), type(exc).__name__, exc)

    def _handle_order(self, order: Order) -> None:
        assert self.launcher is not None
        if order.kind == "launch" and order.launch is not None and self._killed:
            # its pilot is ending: the job is lost here before it starts (requeued)
            now = time.time()
            self._on_report(JobReport(order.job_id, "CANCELLED", t_start=now, t_end=now,
                                      run=order.launch.run, lost=True))
        elif order.kind == "launch" and order.launch is not None:
            # A job may come back once its report has reached the controller: it was
            # requeued. The launch can overtake the report's acknowledgement, so only a
            # report of this same run makes the launch a repeat; one of an earlier run
            # is stale, as the controller has moved on.
            old = self.pending.get(order.job_id)
            if old is not None and old.run >= order.launch.run:
                log.info("job %d: launch of run %d ignored, that run has ended here",
                         order.job_id, order.launch.run, extra=log_ids(job_id=order.job_id))
            else:
                if old is not None:
                    del self.pending[order.job_id]
                    self.launcher.discard(order.job_id, old.run)
                launch = order.launch
                if order.credential:  # its token's file, before it starts
                    launch = self.credentials.prepare(launch, order.token)
                if not self.sandboxes.launch(launch, self.client, self.launcher.launch,
                                             self._on_report):
                    log.info("job %d: launch ignored, it is running", order.job_id,
                             extra=log_ids(job_id=order.job_id))
        elif order.kind == "cancel":
            stepped = (self.steps.terminate(order.job_id, order.signal, order.grace_s)
                       if self.steps else 0)
            # the job's steps here get the whole grace period, even if its batch
            # script ends first (as Slurm's KillWait): its end waits for them
            self._grace_until[order.job_id] = time.monotonic() + order.grace_s
            staging = self.sandboxes.cancel(order.job_id)  # not started yet
            if not self.launcher.cancel(order.job_id, order.signal, order.grace_s,
                                        run=order.run) and not stepped and not staging:
                log.info("job %d: cancel ignored, not running here", order.job_id,
                         extra=log_ids(job_id=order.job_id))
        elif order.kind == "signal":
            self._signal(order)
        elif order.kind == "credential" and order.token is not None:
            if not self.credentials.renew(order.job_id, order.token):
                log.info("job %d: credential not renewed, not running here", order.job_id,
                         extra=log_ids(job_id=order.job_id))
        elif order.kind == "step" and order.step is not None and self.steps is not None:
            step = order.step  # on a node whose prolog for the job runs: once it passes
            self.scripts.after_prolog(order.job_id, lambda: self._launch_step(step))
        elif order.kind in ("step_cancel", "end") and self.steps is not None:
            self.steps.kill_job(order.job_id, order.step_id)
        elif order.kind == "prolog" and order.job is not None:
            self.scripts.prolog_here(order.job)
        elif order.kind == "epilog" and order.job is not None:
            self.scripts.epilog_here(order.job)

    def _launch_step(self, step: StepLaunch) -> None:
        if self.steps is not None and not self.steps.launch(step):
            log.info("step %d.%d: launch ignored, it runs", step.job_id, step.step_id,
                     extra=log_ids(job_id=step.job_id))

    def _signal(self, order: Order) -> None:
        assert self.launcher is not None
        done = False
        if order.target in ("all", "steps") and self.steps is not None:
            done = self.steps.signal(order.job_id, order.signal, order.step_id) > 0
        if order.target in ("all", "batch", "main"):
            done = self.launcher.signal(order.job_id, order.signal,
                                        main_only=order.target == "main") or done
        if not done:
            log.info("job %d: signal %d (%s) reached no process here", order.job_id,
                     order.signal, order.target, extra=log_ids(job_id=order.job_id))

    def _bad_order(self, raw: object, why: str) -> None:
        log.error("bad order from the controller: %s", why)
        if not (isinstance(raw, dict) and raw.get("kind") == "launch"):
            return
        job_id = raw.get("job_id")
        launch = raw.get("launch")
        run = launch.get("run", 0) if isinstance(launch, dict) else 0
        if isinstance(job_id, int) and job_id not in self.pending:
            now = time.time()
            self._on_report(JobReport(job_id, "FAILED", exit_code=1, t_start=now, t_end=now,
                                      message=f"bad launch order: {why}",
                                      run=run if isinstance(run, int) else 0))

    # -- reports -----------------------------------------------------------------------
    def _on_report(self, report: JobReport) -> None:
        if self._killed and not report.lost and report.t_end >= self._killed_at - KILL_SLACK_S:
            # it ended with its pilot's allocation (not clearly before): lost there
            report = dataclasses.replace(report, lost=True,
                                         message="its pilot was ended by the site's "
                                                 "batch system")
        if self.sandboxes.collect(report, self.client, self._on_report):
            return  # reported once its output files are sent
        self.credentials.remove(report.job_id)
        until = self._grace_until.pop(report.job_id, None)
        if self.steps is not None:  # the job is over: so are its steps here
            if until is not None and self.steps.alive(report.job_id) \
                    and time.monotonic() < until:
                waiter = asyncio.get_running_loop().create_task(
                    self._report_when_steps_end(report, until))
                self._waiters.add(waiter)
                waiter.add_done_callback(self._waiters.discard)
                return
            self.steps.kill_job(report.job_id)
        self.pending[report.job_id] = report
        self._reports_ready.set()

    async def _report_when_steps_end(self, report: JobReport, until: float) -> None:
        """A job being killed whose batch script ended first: its steps here keep the
        rest of the grace period; its end is reported once they are gone (so a requeue
        never starts the next run beside them)."""
        assert self.steps is not None
        while self.steps.alive(report.job_id) and time.monotonic() < until:
            await asyncio.sleep(STEP_WAIT_POLL_S)
        self.steps.kill_job(report.job_id)
        self.pending[report.job_id] = report
        self._reports_ready.set()

    def _acknowledge(self, sent: dict[int, JobReport]) -> None:
        for job_id, report in sent.items():
            if self.pending.get(job_id) is report:
                del self.pending[job_id]
            if self.launcher is not None:
                self.launcher.discard(job_id, report.run)

    async def _send_reports(self, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        sent = dict(self.pending)
        body = message(AgentReport, node=self.inventory.node,
                       reports=[r.to_dict() for r in sent.values()])
        await self._post("/agent/v1/report", body, timeout_s=timeout_s)
        self._acknowledge(sent)

    async def _report_loop(self) -> None:
        backoff = Backoff()
        while True:
            await self._reports_ready.wait()
            self._reports_ready.clear()
            while self.pending and self.registered:
                try:
                    await self._send_reports()
                    backoff.reset()
                except RegisterFirstError:
                    self.registered = False  # the next register carries them
                except ControllerError as exc:
                    log.warning("report not delivered (%s); will retry", exc)
                    await backoff.sleep()

    async def _flush_reports(self) -> None:
        if not self.pending or self.client is None:
            return
        with contextlib.suppress(ControllerError, RegisterFirstError):
            await self._send_reports(timeout_s=SHUTDOWN_FLUSH_S)
        if self.pending:
            log.warning("%d report(s) not delivered before exit: %s", len(self.pending),
                        ", ".join(str(j) for j in self.pending))


def _without_tokens(raw: object) -> object:
    """An order as logged: a credential's token is not written to the log."""
    if not isinstance(raw, dict):
        return raw
    out = {k: ("(withheld)" if k == "token" else v) for k, v in raw.items()}
    launch = out.get("launch")
    if isinstance(launch, dict) and "credential" in launch:
        out["launch"] = {**launch, "credential": "(withheld)"}
    return out
