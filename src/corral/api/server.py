"""`corral-controller`: the controller process (store + scheduler + REST on socket/TCP)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from sqlalchemy import Engine

from corral import logs
from corral.api.app import create_app
from corral.api.follower_reads import FollowerReads
from corral.api.peercred import PeerCredProtocol
from corral.api.readpath import ReadPath
from corral.api.standby import (
    FollowerApp,
    Switch,
    advertised_url,
    follow_first_s,
    lock_sqlite,
    reexec,
)
from corral.api.stop_signals import STOPS
from corral.config import Config, load_config
from corral.model.errors import CorralError
from corral.services import gc_pauses
from corral.services.controller import Controller
from corral.services.follow import Tail
from corral.services.leader import Leadership
from corral.store.db import make_engine, migrate

log = logging.getLogger("corral.server")
T = TypeVar("T")
SWITCH_INTERVAL_S = 0.0005
REEXEC_AFTER_S = 0.2  # a controller that stepped down starts again once it answered
TICK_S = 1.0  # the server's main loop wakes this often (the Date header), or to exit

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def bind_unix(path: str) -> socket.socket:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            p.unlink()  # a stale socket left by a killed controller
        else:
            probe.close()
            raise CorralError(f"socket {path}: another controller is already listening")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)  # every local user may connect; SO_PEERCRED says who they are
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def bind_tcp(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    try:
        sock = socket.create_server((host or "127.0.0.1", int(port)), backlog=1024,
                                    reuse_port=False)
    except (OSError, ValueError) as e:
        raise CorralError(f"controller.listen: cannot listen on {listen!r}: {e}") from None
    return sock


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as e:
        raise CorralError(f"controller.tls_cert_file/tls_key_file: cannot load "
                          f"{cert_file} and {key_file}: {e}") from None
    return ctx


class WriterLoop:
    """The controller's own event loop, in a thread of its own: the only place its
    state changes (services/controller.py). The HTTP server runs on the main
    thread's loop and answers reads from the published read model (api/readpath.py)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="corral-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the writer's loop; its result."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class _Server(uvicorn.Server):
    """Ends the agents' long-polls first, so that shutdown takes no grace period.
    Serves one socket with TLS besides uvicorn's plain ones (uvicorn would put TLS
    on every socket, the Unix one too). `on_started` runs once it listens. Its
    main loop sleeps until it is asked to exit (uvicorn's wakes ten times a
    second to look), waking once a TICK_S for the Date header."""

    def __init__(self, config: uvicorn.Config,
                 tls: tuple[socket.socket, ssl.SSLContext] | None = None,
                 on_started: Callable[[], None] | None = None) -> None:
        self._should_exit = False
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._exit_asked: asyncio.Event | None = None
        super().__init__(config)
        self.ctl: Controller | None = None  # once this controller leads
        self.writer: WriterLoop | None = None
        self.tls = tls
        self.on_started = on_started

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        """(Also from a signal handler: uvicorn's handle_exit.)"""
        self._should_exit = value
        loop, asked = self._main_loop, self._exit_asked
        if value and loop is not None and asked is not None:
            with contextlib.suppress(RuntimeError):  # (the loop has closed)
                loop.call_soon_threadsafe(asked.set)

    def ask_stop(self, signum: int) -> None:
        """A stop signal (from api/stop_signals.py's thread): stop cleanly; a second
        SIGINT forces it (as uvicorn's own handler does)."""
        if self.should_exit and signum == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def main_loop(self) -> None:
        self._main_loop = asyncio.get_running_loop()
        asked = self._exit_asked = asyncio.Event()
        counter = 0  # on_tick refreshes the Date header when it is a multiple of 10
        while not await self.on_tick(counter):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asked.wait(), TICK_S)
            counter = (counter + 10) % 864000

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        if self.tls is not None:
            sock, ctx = self.tls
            config = self.config

            def protocol() -> asyncio.Protocol:
                return config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state,
                    app_state=self.lifespan.state)

            loop = asyncio.get_running_loop()
            self.servers.append(await loop.create_server(protocol, sock=sock, ssl=ctx,
                                                         backlog=config.backlog))
        if self.on_started is not None:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.ctl is not None and self.writer is not None:
            self.writer.loop.call_soon_threadsafe(self.ctl.orders.wake_all)
        await super().shutdown(sockets=sockets)


async def _make(cfg: Config, engine: Engine) -> Controller:
    return Controller(cfg, engine)  # (on the writer's loop: its publisher's thread)


async def _start(cfg: Config, engine: Engine, leadership: Leadership | None = None,
                 ctl: Controller | None = None, *, warm: bool = False) -> Controller:
    """Start a controller (made beforehand, or now): it loads the state (`warm`: the
    jobs its follower's copy holds, services/follow.py)."""
    ctl = ctl or Controller(cfg, engine)
    if leadership is not None:  # every transaction checks the epoch first
        ctl.writer.fence = leadership.fence
        ctl.writer.epoch = leadership.epoch
        ctl.writer.on_deposed = lambda _: reexec(leadership.lease_s)
    await ctl.start(warm=warm)
    return ctl


async def _follow(tail: Tail) -> bool:
    """Start following the log; False when the copy could not be loaded (the
    follower then loads the queue if it takes over, as a restart does)."""
    try:
        await tail.start()
    except Exception as e:
        log.warning("following the log: the queue could not be loaded (%s); this "
                    "follower answers no reads", str(e).splitlines()[0] if str(e)
                    else type(e).__name__)
        return False
    return True


async def _finish_following(tail: Tail) -> bool:
    """A take-over: stop following and apply the rest of the log; whether the copy
    can be taken over (else the state is loaded from the store)."""
    await tail.stop()
    try:
        await tail.to_end()
    except Exception as e:
        log.warning("taking over: the rest of the log could not be applied (%s); "
                    "loading the state", type(e).__name__)
        return False
    return tail.stale is None


def _migrate(engine: Engine, retry: bool) -> None:
    """Bring the store to the head; a re-executed controller (deposed, the store
    perhaps out of reach) keeps trying instead of exiting."""
    while True:
        try:
            migrate(engine)
            return
        except Exception as e:
            if not retry:
                raise
            log.warning("store not reachable (%s); retrying", type(e).__name__)
            time.sleep(2.0)


class _Leading:
    """Follow until this controller wins the lease, then load the state and serve."""

    def __init__(self, cfg: Config, engine: Engine, leadership: Leadership,
                 follower: FollowerApp, switch: Switch, server: _Server) -> None:
        self.cfg, self.engine, self.leadership = cfg, engine, leadership
        self.follower, self.switch, self.server = follower, switch, server
        self.api: Any = None
        self.tail: Tail | None = None  # the warm copy, while following
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="leading")

    async def _run(self) -> None:
        try:
            # warm while following: the writer's loop, the controller and its
            # application are made; taking over only loads the state
            writer = WriterLoop()
            self.server.writer = writer
            made = await writer.run(_make(self.cfg, self.engine))
            api = create_app(made)
            api.state.leadership = self.leadership
            self.api = api
            following: asyncio.Future[bool] | None = None
            if self.cfg.controller.warm_standby and not self.leadership.alone:
                # the copy loads while this controller campaigns and notes its
                # heartbeat; it answers reads once loaded
                tail = self.tail = Tail(made)
                following = asyncio.ensure_future(writer.run(_follow(tail)))

                def followed(f: asyncio.Future[bool]) -> None:
                    if f.cancelled() or f.exception() is not None or not f.result() \
                            or self.follower.taking_over:
                        return
                    self.leadership.applied_seq = lambda: tail.applied_seq
                    self.follower.reads = FollowerReads(
                        ReadPath(api, made.publisher, writer.loop), tail,
                        stale_after_s=self.leadership.lease_s)
                following.add_done_callback(followed)
            epoch = await asyncio.to_thread(self.leadership.wait_to_lead)
            t0 = time.monotonic()
            self.follower.taking_over = True
            self.follower.reads = None
            lease_s = self.leadership.lease_s
            self.leadership.lead(lambda why: reexec(lease_s))

            def handover() -> None:  # (on the writer's loop, once the answer left)
                asyncio.get_running_loop().call_later(REEXEC_AFTER_S, reexec, 2 * lease_s)
            self.leadership.on_handover = handover
            warm = False
            # (a copy still loading: the load a cold start would make anyway)
            if following is not None and self.tail is not None and await following:
                warm = await writer.run(_finish_following(self.tail))
            self.tail = None
            ctl = await writer.run(_start(self.cfg, self.engine, self.leadership, made,
                                          warm=warm))
            self.server.ctl = ctl
            self.switch.app = ReadPath(api, ctl.publisher, writer.loop)
            log.info("leading (epoch %d): state loaded in %.3f s (%s)", epoch,
                     time.monotonic() - t0, "warm: the followed log's" if warm
                     else "from the store")
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            self.error = e
            self.server.should_exit = True

    async def stop(self) -> None:
        """A clean stop: a leader gives its lease up once its last write is in."""
        self.leadership.stop()
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        writer, ctl = self.server.writer, self.server.ctl
        if writer is not None and self.tail is not None:
            with contextlib.suppress(Exception):
                await writer.run(self.tail.stop())
        if writer is not None:
            if self.api is not None:  # (its client is the writer's loop's)
                await writer.run(self.api.state.tokens.close())
            if ctl is not None:
                await writer.run(ctl.stop())
            writer.stop()
        if self.leadership.leading:
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(self.leadership.release):
                    log.info("stopped: the lease of epoch %d given up",
                             self.leadership.epoch)
        await asyncio.to_thread(self.leadership.forget)


async def serve(cfg: Config) -> None:
    cc = cfg.controller
    tls_ctx = tls_context(cc.tls_cert_file, cc.tls_key_file) \
        if cc.listen and cc.tls_cert_file and cc.tls_key_file else None
    lock_sqlite(cfg.database_url)  # (held for the life of the process)
    first_wait_s = follow_first_s()
    engine = make_engine(cfg.database_url)
    await asyncio.to_thread(_migrate, engine, first_wait_s > 0)
    sockets = [bind_unix(cfg.socket_path)]
    tls: tuple[socket.socket, ssl.SSLContext] | None = None
    if cc.listen:
        tcp = bind_tcp(cc.listen)
        if tls_ctx is not None:
            tls = (tcp, tls_ctx)
        else:
            sockets.append(tcp)
            if cfg.auth.issuers:
                log.warning("controller.listen %s has no TLS: bearer tokens cross the "
                            "network in clear", cc.listen)
    # Two loops share the interpreter: one that waits for the lock for a whole
    # switch interval (5 ms) after each socket call would serve a 6 MB listing in
    # tens of those waits while the writer's loop computes, and the other way round.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc_pauses.watch()
    leadership = Leadership(engine, address=advertised_url(cfg), lease_s=cc.leader_lease_s,
                            follow_first_s=first_wait_s)
    follower = FollowerApp(cfg, leadership)
    switch = Switch(follower)
    # log_config=None: uvicorn's records go through the root logger's handler (logs.setup)
    ucfg = uvicorn.Config(switch, http=PeerCredProtocol, lifespan="off",
                          log_level="warning", log_config=None,
                          access_log=False, timeout_graceful_shutdown=2, ws="none")
    server = _Server(ucfg, tls)
    leading = _Leading(cfg, engine, leadership, follower, switch, server)
    server.on_started = leading.start
    STOPS.on_stop = server.ask_stop
    log.info("controller up: socket %s%s, store %s, as %s", cfg.socket_path,
             f", {'tls' if tls else 'tcp'} {cfg.controller.listen}"
             if cfg.controller.listen else "",
             engine.url.render_as_string(hide_password=True), leadership.address)
    try:
        await server.serve(sockets=sockets)
    finally:
        await leading.stop()
        engine.dispose()
        with contextlib.suppress(OSError):
            os.unlink(cfg.socket_path)
    if leading.error is not None:
        raise leading.error


def hold_lock(path: Path) -> int | None:
    """An exclusive lock on `path` for the life of this process (None: held by
    another). The kernel drops it when the process dies, even as a zombie."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@click.command("corral-controller")
@click.option("--state-dir", envvar="CORRAL_STATE_DIR", help="Where the state lives.")
@click.option("--log-format", type=click.Choice(logs.LOG_FORMATS), default=None,
              help="text or json (JSON lines); default: controller.log_format.")
def main(state_dir: str | None, log_format: logs.LogFormat | None) -> None:
    """Run the corral controller in the foreground."""
    try:
        cfg = load_config(state_dir)
    except CorralError as e:
        raise click.ClickException(str(e)) from None
    logs.setup(log_format or cfg.controller.log_format, LOG_FORMAT,
               level=cfg.controller.log_level, stream=sys.stderr,
               process="corral-controller")
    Path(cfg.state_dir).mkdir(parents=True, exist_ok=True)
    lock = hold_lock(Path(cfg.state_dir) / "controller.lock")
    if lock is None:
        raise click.ClickException(f"another controller runs on the state directory "
                                   f"{cfg.state_dir} (it holds controller.lock)")
    pidfile = Path(cfg.state_dir) / "controller.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    STOPS.start()  # (before any other thread: they inherit its blocked signals)
    try:
        asyncio.run(serve(cfg))
    except CorralError as e:
        raise click.ClickException(str(e)) from None
    finally:
        try:
            if pidfile.read_text().strip() == str(os.getpid()):
                pidfile.unlink()
        except OSError:
            pass


if __name__ == "__main__":
    main()
