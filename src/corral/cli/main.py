"""`corral`: the command line. Subcommands load lazily so that start-up stays fast."""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

import click

from corral.model.errors import CorralError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("corral.cli.daemon", "up", "Start the controller and a local agent."),
    "down": ("corral.cli.daemon", "down", "Stop the local agent and the controller."),
    "status": ("corral.cli.query", "status", "Show the controller's status."),
    "submit": ("corral.cli.submit", "submit", "Submit a job script or a command."),
    "jobs": ("corral.cli.query", "jobs", "List jobs in the queue (or the history)."),
    "show": ("corral.cli.query", "show", "Show one job in full."),
    "events": ("corral.cli.query", "events", "Show a job's event log."),
    "output": ("corral.cli.sandbox", "output", "Copy a job's output sandbox files here."),
    "explain": ("corral.cli.query", "explain", "Say why a job waits and what would start it."),
    "nodes": ("corral.cli.query", "nodes", "List nodes and their state."),
    "partitions": ("corral.cli.query", "partitions", "List partitions."),
    "sites": ("corral.cli.sites", "sites",
              "Sites: their nodes and pilots, queued demand, throughput."),
    "pilot": ("corral.cli.sites", "pilot",
              "The pilot factory: submit agents into the sites' batch systems."),
    "controller": ("corral.cli.controllers", "controller",
                   "The controllers sharing a database: list them, hand over the lead."),
    "node": ("corral.cli.control", "node",
             "Drain or resume nodes (operators), delete them (administrators)."),
    "reservation": ("corral.cli.reservation", "reservation",
                    "Advance reservations and maintenance windows."),
    "account": ("corral.cli.account", "account",
                "Accounts, users' associations and QOS (changes: administrators)."),
    "cancel": ("corral.cli.control", "cancel", "Cancel jobs (or send them a signal)."),
    "hold": ("corral.cli.control", "hold", "Hold pending jobs."),
    "release": ("corral.cli.control", "release", "Release held jobs."),
    "requeue": ("corral.cli.control", "requeue", "Put jobs back in the queue."),
    "update": ("corral.cli.control", "update", "Change a job's settings."),
    "login": ("corral.cli.login", "login",
              "Sign in to a remote controller (OAuth device flow)."),
    "logout": ("corral.cli.login", "logout", "Forget the sign-in to a remote controller."),
    "whoami": ("corral.cli.login", "whoami", "Show who the controller takes you for."),
    "report": ("corral.cli.report", "report",
               "Usage over a period: utilization, top users, accounts, job sizes, waits."),
    "credential": ("corral.cli.credential", "credential",
                   "The sign-ins the controller renews for --credential jobs."),
    "dashboard": ("corral.cli.dashboard", "dashboard",
                  "Open the web dashboard (as yourself, through this host's socket)."),
    "audit": ("corral.cli.audit", "audit",
              "Who asked for what change, and what came of it (the audit trail)."),
    "dag": ("corral.compat.condor.dagcli", "dag",
            "DAGs of jobs (HTCondor DAGMan files): submit, run, status."),
    "sim": ("corral.sim.cli", "sim", "Replay a workload trace through the scheduler."),
    "compat": ("corral.compat.cli", "compat", "Install Slurm/Grid Engine drop-in commands."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        cmd: click.Command = getattr(module, entry[1])
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry[2]) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corral")
def cli() -> None:
    """corral: a workload manager. Submit jobs, watch the queue, run a cluster."""


GROUPS = ("node", "reservation", "account", "report", "compat", "dag")


def command_path(args: list[str]) -> str:
    """`corral CMD [SUB]` from the arguments, to start an error line with."""
    words = ["corral"]
    if args and args[0] in COMMANDS:
        words.append(args[0])
        if args[0] in GROUPS and len(args) > 1 and not args[1].startswith("-"):
            words.append(args[1])
    return " ".join(words)


def fail(path: str, message: str, code: int) -> NoReturn:
    """Every error is one line on stderr: `corral CMD: error: MESSAGE`."""
    text = " ".join(message.split()) or "failed"
    click.echo(f"{path}: error: {text}", err=True)
    sys.exit(code)


def main(args: list[str] | None = None) -> None:
    """Run the command line; usage errors exit 2, refusals and failures 1."""
    argv = sys.argv[1:] if args is None else args
    try:
        code = cli.main(argv, prog_name="corral", standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `corral jobs | head`: the reader has gone; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError as e:
        e.show()  # `corral` or `corral node` alone: the help, as a usage error
        sys.exit(2)
    except click.UsageError as e:
        path = e.ctx.command_path if e.ctx is not None else command_path(argv)
        fail(path, e.format_message(), 2)
    except click.ClickException as e:
        fail(command_path(argv), e.format_message(), e.exit_code)
    except click.Abort as e:  # click's form of Ctrl-C (or end of input at a prompt)
        if isinstance(e.__context__, KeyboardInterrupt):
            sys.exit(130)
        fail(command_path(argv), "aborted", 1)
    except CorralError as e:  # refused by the controller, or failed
        fail(command_path(argv), str(e), 1)
    sys.exit(code if isinstance(code, int) else 0)
