"""`corral-agent`: the node daemon's command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path

import click

from corral import logs
from corral.agent import runs
from corral.agent.daemon import Agent
from corral.agent.inventory import detect
from corral.agent.pilot import PilotSettings, allocation, pilot_spool
from corral.logs import LOG_FORMATS, LogFormat
from corral.model.pilots import SITE_RE

log = logging.getLogger("corral.agent")

LOG_FORMAT = "%(asctime)s corral-agent[%(process)d] %(levelname)s %(message)s"
ROOT_SPOOL = Path("/var/spool/corral")


def default_spool(node: str) -> Path:
    if os.geteuid() == 0:
        return ROOT_SPOOL / f"agent-{node}"
    return Path(tempfile.gettempdir()) / f"corral-agent-{os.getuid()}" / node


def prepare_spool(spool: Path) -> None:
    """Create the spool; as root it must be traversable by job users (0711)."""
    mode = 0o711 if os.geteuid() == 0 else 0o700
    spool.mkdir(parents=True, exist_ok=True)
    st = spool.stat()
    if st.st_uid != os.geteuid():
        raise click.ClickException(f"spool {spool} is owned by uid {st.st_uid}, not by us")
    os.chmod(spool, mode)
    if os.geteuid() == 0:
        for parent in spool.resolve().parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                log.warning("spool %s: %s is not searchable by other users; jobs run as "
                            "their owners will fail to start scripts", spool, parent)
                break


def setup_logging(log_file: str | None, verbose: bool, log_format: LogFormat = "text",
                  node: str | None = None) -> None:
    logs.setup(log_format, LOG_FORMAT, level=logging.DEBUG if verbose else logging.INFO,
               stream=sys.stderr, log_file=log_file, node=node, process="corral-agent")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--controller", required=True, envvar="CORRAL_CONTROLLER",
              help="unix:///path/to/sock or http://host:port; several, comma "
                   "separated: the controllers sharing one database (it finds the leader)")
@click.option("--node", default=None, help="Node name (default: the host name).")
@click.option("--cpus", type=click.IntRange(min=1), default=None,
              help="CPUs offered (default: this process's CPU affinity).")
@click.option("--mem-mb", type=click.IntRange(min=1), default=None,
              help="Memory offered in MiB (default: physical memory).")
@click.option("--gpus", type=click.IntRange(min=0), default=None,
              help="GPUs offered (default: count from nvidia-smi -L).")
@click.option("--features", default=None, help="Comma-separated node features.")
@click.option("--spool", type=click.Path(path_type=Path), default=None,
              help="Directory for job scripts.")
@click.option("--cluster-key", envvar="CORRAL_CLUSTER_KEY", default=None,
              help="Shared cluster key (sent over TCP).")
@click.option("--log-file", default=None, help="Append the log here instead of stderr.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text",
              envvar="CORRAL_LOG_FORMAT", show_default=True,
              help="text, or json: one JSON object per line.")
@click.option("--no-cgroups", is_flag=True, help="Use RSS monitoring even if cgroup v2 works.")
@click.option("--no-cpu-binding", is_flag=True,
              help="Do not bind jobs to particular CPUs (docs/resources.md).")
@click.option("--site", envvar="CORRAL_SITE", default=None,
              help="The site this node belongs to (jobs may require or prefer it).")
@click.option("--pilot", is_flag=True,
              help="Run as a pilot inside a batch job (docs/pilots.md): the allocation's "
                   "CPUs and memory, a deadline, leave when idle. Needs --site and "
                   "--wall-time-s.")
@click.option("--wall-time-s", type=click.IntRange(min=1), default=None,
              help="A pilot's allocation: how long it has, from now.")
@click.option("--deadline-margin-s", type=click.IntRange(min=0), default=30,
              show_default=True,
              help="A pilot takes no job that would run into this last part of it.")
@click.option("--idle-timeout-s", type=click.FloatRange(min=0), default=300.0,
              show_default=True, help="A pilot with nothing to run this long leaves.")
@click.option("--pilot-token", envvar="CORRAL_PILOT_TOKEN", default=None,
              help="A pilot's token (from its factory), instead of the cluster key.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(controller: str, node: str | None, cpus: int | None, mem_mb: int | None,
         gpus: int | None, features: str | None, spool: Path | None,
         cluster_key: str | None, log_file: str | None, log_format: LogFormat,
         no_cgroups: bool, no_cpu_binding: bool, site: str | None, pilot: bool,
         wall_time_s: int | None, deadline_margin_s: int, idle_timeout_s: float,
         pilot_token: str | None, verbose: bool) -> None:
    """Run jobs on this node for a corral controller.

    On SIGTERM the agent stops and exits; running jobs are left running under their
    supervisors, and an agent restarted on the same spool re-adopts them. Jobs
    whose node does not hear from the controller for its lease are killed.
    """
    node = node or socket.gethostname().split(".")[0]
    setup_logging(log_file, verbose, log_format, node)
    for url in controller.split(","):
        if not url.strip().startswith(("unix://", "http://", "https://")):
            raise click.BadParameter(f"{url.strip()!r}: use unix:///path/to/sock or "
                                     f"http://host:port (comma separated for several)",
                                     param_hint="--controller")
    if site is not None and not SITE_RE.match(site):
        raise click.BadParameter(f"{site!r}: letters, digits, '_', '.', '-' (at most 64)",
                                 param_hint="--site")
    os.environ.pop("CORRAL_PILOT_TOKEN", None)  # not for the processes it starts
    settings = None
    if pilot:
        if site is None or wall_time_s is None:
            raise click.UsageError("--pilot needs --site and --wall-time-s")
        if deadline_margin_s >= wall_time_s:
            raise click.BadParameter(f"{deadline_margin_s}: not below --wall-time-s "
                                     f"{wall_time_s}", param_hint="--deadline-margin-s")
        got = allocation(os.environ)
        cpus = cpus or got.cpus
        mem_mb = mem_mb or got.mem_mb
        settings = PilotSettings(site, time.time() + wall_time_s - deadline_margin_s,
                                 idle_timeout_s, got.batch_job)
    inventory = detect(node, cpus=cpus, mem_mb=mem_mb, gpus=gpus, features=features)
    spool_dir = spool or (pilot_spool(inventory.node) if pilot
                          else default_spool(inventory.node))
    try:
        prepare_spool(spool_dir)
        lock = runs.hold_lock(spool_dir / "agent.lock")
    except OSError as exc:
        raise click.ClickException(f"spool {spool_dir}: {exc.strerror or exc}") from None
    if lock is None:
        raise click.ClickException(f"spool {spool_dir}: another agent uses it "
                                   "(it holds agent.lock)")

    async def serve() -> None:
        agent = Agent(controller, inventory, spool_dir, cluster_key=cluster_key,
                      use_cgroups=not no_cgroups, bind_cpus=not no_cpu_binding,
                      site=site, pilot=settings, pilot_token=pilot_token)
        agent.install_signal_handlers()
        await agent.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
