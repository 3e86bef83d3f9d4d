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
from pathlib import Path

import click

from corral import logs
from corral.agent import runs
from corral.agent.daemon import Agent
from corral.agent.inventory import detect
from corral.logs import LOG_FORMATS, LogFormat

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
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(controller: str, node: str | None, cpus: int | None, mem_mb: int | None,
         gpus: int | None, features: str | None, spool: Path | None,
         cluster_key: str | None, log_file: str | None, log_format: LogFormat,
         no_cgroups: bool, no_cpu_binding: bool, verbose: bool) -> None:
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
    inventory = detect(node, cpus=cpus, mem_mb=mem_mb, gpus=gpus, features=features)
    spool_dir = spool or default_spool(inventory.node)
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
                      use_cgroups=not no_cgroups, bind_cpus=not no_cpu_binding)
        agent.install_signal_handlers()
        await agent.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
