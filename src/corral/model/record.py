"""A job's stored fields as JSON values and back: what an event carries to reproduce
a change (services/state.py applies it; docs/adr/0003-events-and-apply.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from corral.model.intent import parse_intent
from corral.model.job import NO_GPU_IDS, STORED_FIELDS, Job, JobSpec
from corral.model.states import JobState

# Set at submit and never changed: with STORED_FIELDS, a job's whole stored row.
IDENTITY_FIELDS = ("user", "uid", "gid", "t_submit")
IMAGE_FIELDS = IDENTITY_FIELDS + STORED_FIELDS
_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(JobSpec))


def spec_dict(spec: JobSpec) -> dict[str, Any]:
    """JobSpec.to_dict() without dataclasses.asdict's deep copy (hot in batch inserts);
    tests/store checks that the two agree."""
    d = {name: getattr(spec, name) for name in _SPEC_FIELDS}
    d["argv"] = list(spec.argv)
    d["features"] = list(spec.features)
    d["nodelist"] = list(spec.nodelist)
    d["exclude"] = list(spec.exclude)
    d["input_sandbox"] = list(spec.input_sandbox)
    d["output_sandbox"] = list(spec.output_sandbox)
    d["environment"] = dict(spec.environment)
    return d


def encode_value(name: str, value: Any) -> Any:
    """One field of a Job as a JSON value."""
    if name == "state":
        return str(value)
    if name == "intent":
        return None if value is None else str(value)
    if name == "nodes":
        return list(value)
    if name in ("gpu_ids", "cpu_ids"):
        return {node: list(ids) for node, ids in value.items()}
    if name == "spec":
        return spec_dict(value)
    return value


def decode_value(name: str, value: Any) -> Any:
    """A field's JSON value as the Job holds it."""
    if name == "state":
        return JobState(value)
    if name == "intent":
        return parse_intent(value)
    if name == "nodes":
        return tuple(value)
    if name in ("gpu_ids", "cpu_ids"):
        return {str(n): tuple(int(i) for i in ids) for n, ids in value.items()} \
            if value else NO_GPU_IDS
    if name == "spec":
        return JobSpec.from_dict(value)
    if name == "priority":
        return float(value)
    return value


def encode(job: Job, names: Iterable[str]) -> dict[str, Any]:
    return {name: encode_value(name, getattr(job, name)) for name in names}


# the fields whose JSON value is the value itself (encode_value passes them through)
_PLAIN = tuple(n for n in IMAGE_FIELDS if n not in ("state", "intent", "nodes", "gpu_ids",
                                                    "cpu_ids", "spec"))


def image(job: Job, *, spec: bool = True) -> dict[str, Any]:
    """Every stored field of a job (its id aside); without the spec if `spec` is False.
    (encode(job, IMAGE_FIELDS), in fewer calls: it is on every submit's path.)"""
    d = {name: getattr(job, name) for name in _PLAIN}
    d["state"] = str(job.state)
    d["intent"] = None if job.intent is None else str(job.intent)
    d["nodes"] = list(job.nodes)
    d["gpu_ids"] = encode_value("gpu_ids", job.gpu_ids) if job.gpu_ids else {}
    d["cpu_ids"] = encode_value("cpu_ids", job.cpu_ids) if job.cpu_ids else {}
    if spec:
        d["spec"] = spec_dict(job.spec)
    return d


def submit_data(job: Job) -> dict[str, Any]:
    """A submit event's data: the spec at the top level, the rest of the job's row under
    "set" (services/state.py applies it; services/submission.py builds it)."""
    return {**spec_dict(job.spec), "set": image(job, spec=False)}


_DECODED = frozenset(("state", "intent", "nodes", "gpu_ids", "cpu_ids", "spec", "priority"))


def job_from_image(job_id: int, values: Mapping[str, Any], *,
                   spec: JobSpec | None = None) -> Job:
    """A job as an image describes it (an image from `image`); `spec`: its spec as
    decoded already (the image's "spec" is then not read). (decode_value for the
    fields that need it only: this is on every submit's path.)"""
    kw = {name: values[name] for name in _PLAIN if name in values}
    for name in _DECODED:
        if name in values:
            kw[name] = decode_value(name, values[name])
    if spec is not None:
        kw["spec"] = spec
    return Job(id=job_id, **kw)


def assign(job: Job, values: Mapping[str, Any]) -> None:
    """Set the fields an event carries (`state` too: the caller checks the move)."""
    for name, value in values.items():
        setattr(job, name, decode_value(name, value))
