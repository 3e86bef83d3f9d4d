"""Job script directives: `#CORRAL` lines before the first command (docs/specs/06-job-scripts.md).

The options a directive may carry are the submit command's own (one table serves
both), so `#CORRAL -t 10:00` and `corral submit -t 10:00` mean the same thing.
Command-line options override directives.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import click

from corral.model import bounds
from corral.model.deps import parse_dependency
from corral.model.errors import InvalidRequest
from corral.model.job import MAX_RETRIES_LIMIT

PREFIX = "#CORRAL"

F = Callable[..., Any]


def _range(limits: tuple[int, int]) -> click.IntRange:
    return click.IntRange(*limits)


def check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A job name as the controller takes it (corral.model.bounds): else a usage error."""
    if value is not None:
        problem = bounds.name_problem(value, bounds.MAX_NAME_LEN)
        if problem is not None:
            raise click.BadParameter(f"{bounds.shown(value)} {problem}")
    return value


def _dependency(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_dependency(value)
        except InvalidRequest as e:
            raise click.BadParameter(str(e).removeprefix("dependency: ")) from None
    return value


def job_options(f: F) -> F:
    """The resource and placement options shared by `corral submit` and `#CORRAL`."""
    opts = [
        click.option("-J", "--job-name", "name", callback=check_name,
                     help="Job name (default: the script's name)."),
        click.option("-o", "--output", help="stdout file; %j id, %x name, %u user, %N node."),
        click.option("-e", "--error", help="stderr file (default: with stdout)."),
        click.option("-p", "--partition", help="Partition (default: the default one)."),
        click.option("-A", "--account", help="Account to charge."),
        click.option("-N", "--nodes", type=_range(bounds.NODES_PER_JOB),
                     help="Number of nodes."),
        click.option("-c", "--cpus", "--cpus-per-node", "cpus",
                     type=_range(bounds.CPUS_PER_NODE), help="CPUs per node."),
        click.option("--mem", help="Memory per node (e.g. 512M, 4G)."),
        click.option("--gpus", type=_range(bounds.GPUS_PER_NODE), help="GPUs per node."),
        click.option("--gpu-type", "gpu_type",
                     help="The GPUs' model (a100): only nodes configured with it."),
        click.option("-t", "--time", help="Time limit: MM, MM:SS, HH:MM:SS or D-HH:MM:SS."),
        click.option("--nice", type=_range(bounds.NICE),
                     help="Lower the job's priority by this much."),
        click.option("--priority", type=_range(bounds.PRIORITY),
                     help="Fixed priority (administrators)."),
        click.option("-H", "--hold", is_flag=True, default=None, help="Submit held."),
        click.option("--begin", help="Not before: now+60, now+2hours, HH:MM, ISO date."),
        click.option("-D", "--chdir", help="Working directory (default: here)."),
        click.option("--constraint",
                     help="Required node features: 'a&b', 'a|b', '!old', '(a|b)&c'."),
        click.option("--requirements",
                     help="A ClassAd expression over a node's ad that must hold: "
                     "'other.Memory >= 8000 && member(\"avx2\", other.Features)'."),
        click.option("--rank", help="A ClassAd expression: nodes where it is higher "
                     "are chosen first ('other.Cpus')."),
        click.option("--site", help="Run only on this site's nodes and pilots "
                     "(adds other.Site == \"NAME\" to its Requirements)."),
        click.option("--prefer-site", "prefer_site",
                     help="Prefer this site's nodes and pilots (its Rank)."),
        click.option("--retries", "retry_count", type=click.IntRange(0, MAX_RETRIES_LIMIT),
                     default=None, help="Run the job again up to N times when it fails "
                     "(non-zero exit, signal); at most the site's max_retries."),
        click.option("-L", "--licenses",
                     help="Cluster-wide licenses the job needs: matlab:2,comsol."),
        click.option("-w", "--nodelist", help="Nodes the job must have: n1,n2 or n[1-2]."),
        click.option("-x", "--exclude", help="Nodes the job may not use: n3 or n[3-4]."),
        click.option("--no-requeue", "no_requeue", is_flag=True, default=None,
                     help="Never requeue this job after a node failure."),
        click.option("--max-retries", "max_retries", type=click.IntRange(0, MAX_RETRIES_LIMIT),
                     default=None, help="Automatic requeues allowed (node failure, failing "
                     "prolog); default: the site's."),
        click.option("--user", help="Submit on behalf of this user (administrators)."),
        click.option("-a", "--array", help="A job array: 0-99, 1,3,5-9:2, 0-9%2 (throttle)."),
        click.option("-d", "--dependency", callback=_dependency,
                     help="after|afterany|afterok|afternotok:ID[:ID…][,…] or singleton."),
        click.option("--kill-on-invalid-dep", type=click.Choice(["yes", "no"]),
                     help="Fail a job whose dependency can never be met (default yes)."),
        click.option("--signal", help="[B:]SIG[@seconds]: warn the job before its time limit "
                     "(its steps; with B: its batch script)."),
        click.option("--exclusive", is_flag=True, default=None, help="Whole nodes only."),
        click.option("--credential", is_flag=True, default=None,
                     help="Your access token in a file inside the job "
                          "($CORRAL_CREDENTIAL_FILE), renewed while it runs."),
        click.option("-q", "--qos", help="Quality of service (configured by the site)."),
        click.option("--reservation", help="Run inside this advance reservation."),
        click.option("--cpu-bind", "cpu_bind", help="Bind to cores (default), threads, "
                     "none or map_cpu:0,2 (docs/resources.md)."),
        click.option("--core-type", "core_type",
                     help="performance or efficiency cores (hybrid CPUs)."),
        click.option("--gres", help="Generic resources per node: nvme:1,fpga:xilinx:2 "
                     "(GPUs: --gpus, --gpu-type)."),
        click.option("--gres-flags", "gres_flags",
                     help="enforce-binding: only CPUs near the job's GPUs; "
                          "disable-binding: any CPUs."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command("#CORRAL", add_help_option=False)
@job_options
def _directive(**kw: Any) -> dict[str, Any]:
    return kw


def parse_directives(script: str, source: str,
                     check: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """Options from the script's directive lines; a bad line names its number.
    `check` validates one line's values (raising InvalidRequest) so that a badly
    formed value (`--mem lots`) is reported at its line too."""
    found: dict[str, Any] = {}
    for lineno, line in enumerate(script.splitlines(), start=1):
        stripped = line.strip()
        if lineno == 1 and stripped.startswith("#!"):
            continue
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break  # directives end at the first command
        if not stripped.startswith(PREFIX):
            continue
        rest = stripped[len(PREFIX):]
        if rest and not rest[0].isspace():
            continue  # e.g. '#CORRALX', not a directive
        try:
            args = shlex.split(rest, comments=True)
        except ValueError as e:
            raise click.UsageError(f"{source}: line {lineno}: {e}") from None
        try:
            ctx = _directive.make_context(PREFIX, args)
        except click.UsageError as e:
            raise click.UsageError(f"{source}: line {lineno}: {e.format_message()}") from None
        given = {key: value for key, value in ctx.params.items() if value is not None}
        if check is not None:
            try:
                check(given)
            except InvalidRequest as e:
                raise click.UsageError(f"{source}: line {lineno}: {e}") from None
        found.update(given)
    return found
