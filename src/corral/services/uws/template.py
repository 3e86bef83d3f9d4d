"""A UWS job's parameters -> the corral job it runs as, by the site's template
(config [uws]): the command with each `{name}` replaced by the value, shell-quoted,
run in a directory of its own whose listed files become the job's results."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

from corral.config import UWS_PLACEHOLDER, UwsConfig
from corral.model import bounds
from corral.model.bounds import shown
from corral.model.errors import InvalidRequest
from corral.model.job import JobSpec
from corral.model.sandbox import Entry

STDOUT_RESULT = "stdout"  # the job's output, always offered as a result
JOB_NAME = "uws"
MAX_PARAMETERS = 256


def canonical_name(cfg: UwsConfig, name: str) -> str | None:
    """The site's spelling of a parameter's name (UWS names are case-insensitive)."""
    low = name.lower()
    return next((n for n in cfg.parameters if n.lower() == low), None)


def _declared(cfg: UwsConfig, name: str) -> str:
    key = canonical_name(cfg, name)
    if key is None:
        known = ", ".join(sorted(cfg.parameters)) or "none"
        raise InvalidRequest(f"parameter {shown(name)}: not a parameter of this "
                             f"service (it takes: {known})")
    return key


def checked_files(cfg: UwsConfig, names: Iterable[str]) -> list[str]:
    """The site's names of the file parameters uploaded: each declared `file = true`,
    each once."""
    out: list[str] = []
    for name in names:
        key = _declared(cfg, name)
        if not cfg.parameters[key].file:
            raise InvalidRequest(f"parameter {key!r}: not a file parameter (give its "
                                 f"value as a form field, not a file)")
        if key in out:
            raise InvalidRequest(f"parameter {key!r}: given twice")
        out.append(key)
    return out


def checked_parameters(cfg: UwsConfig, given: Iterable[tuple[str, str]],
                       before: Mapping[str, str] | None = None,
                       *, complete: bool = True,
                       files: Iterable[str] = ()) -> dict[str, str]:
    """The job's parameters: `given` over `before` (a job's present ones), each name
    one the site declares, each value within its limits; with `complete`, the
    defaults filled in and every required one present (a file parameter: among
    `files`, those uploaded). InvalidRequest names the first wrong one."""
    out = dict(before or {})
    uploaded = set(files)
    seen: set[str] = set()
    for name, value in given:
        key = _declared(cfg, name)
        if key in seen or key in uploaded:
            raise InvalidRequest(f"parameter {key!r}: given twice")
        seen.add(key)
        spec = cfg.parameters[key]
        if spec.file:
            raise InvalidRequest(f"parameter {key!r}: {shown(value)} is not a file (a file "
                                 f"parameter is uploaded: multipart/form-data, or PUT to "
                                 f"the job's parameters/{key})")
        bounds.check_text(f"parameter {key!r}", value, spec.max_length)
        if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
            raise InvalidRequest(f"parameter {key!r}: {shown(value)} does not match "
                                 f"{spec.pattern!r}")
        out[key] = value
        if len(out) > MAX_PARAMETERS:
            raise InvalidRequest(f"parameters: over the limit of {MAX_PARAMETERS}")
    for key in uploaded:  # a file given over a value it had (its default)
        out.pop(key, None)
    if complete:
        for key, spec in cfg.parameters.items():
            if key not in out and key not in uploaded:
                if spec.default is None:
                    raise InvalidRequest(f"parameter {key!r}: required (no default)")
                out[key] = spec.default
    return out


def upload_name(workdir: str, key: str) -> str:
    """Where a file parameter's file is staged: beside the job's directory."""
    return f"{workdir}.{key}"


def script(cfg: UwsConfig, parameters: Mapping[str, str], workdir: str,
           files: Mapping[str, str] | None = None) -> str:
    """The job's batch script: into its own directory, then the site's command, each
    {name} the parameter's value (a file parameter's: its file's path)."""
    paths = files or {}

    def value(m: re.Match[str]) -> str:
        key = m.group(1)
        return shlex.quote(paths[key] if key in paths else parameters[key])

    command = UWS_PLACEHOLDER.sub(value, cfg.command)
    return (f"#!/bin/sh\nmkdir -p {shlex.quote(workdir)} && cd {shlex.quote(workdir)} "
            f"|| exit 1\n{command}\n")


def output_name(workdir: str) -> str:
    return f"{workdir}.out"


def result_files(cfg: UwsConfig, workdir: str) -> dict[str, str]:
    """result id -> the output sandbox file (relative to uws.working_dir) it is."""
    out = {STDOUT_RESULT: output_name(workdir)}
    out.update({name: f"{workdir}/{name}" for name in cfg.results})
    return out


def working_dir(cfg: UwsConfig, user: str) -> str:
    return cfg.working_dir.replace("%u", user)


def job_spec(cfg: UwsConfig, parameters: Mapping[str, str], workdir: str, user: str,
             execution_duration_s: int, uploads: Mapping[str, str] | None = None) -> JobSpec:
    """`uploads`: file parameter -> its file's sha256 in the sandbox store; each is an
    input file of the job, staged into its working directory beside the job's own."""
    where = working_dir(cfg, user)
    staged = {k: upload_name(workdir, k) for k in sorted(uploads or {})}
    return JobSpec(
        name=JOB_NAME, working_dir=where,
        script=script(cfg, parameters, workdir,
                      {k: f"{where.rstrip('/')}/{name}" for k, name in staged.items()}),
        input_sandbox=tuple(Entry(digest, False, staged[k]).text()
                            for k, digest in sorted((uploads or {}).items())),
        stdout=output_name(workdir),
        partition=cfg.partition, cpus_per_node=cfg.cpus, mem_mb_per_node=cfg.mem_mb,
        time_limit_s=execution_duration_s,
        output_sandbox=tuple(result_files(cfg, workdir).values()))
