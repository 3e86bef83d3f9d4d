"""The SDK's typed answers (corral.client.types) have the fields of the controller's
OpenAPI document, route for route, and still read as the dicts they were."""

from __future__ import annotations

import copy
import json
import pickle
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from corral.client import types as sdk
from corral.client.api import Client
from tests.api.harness import Ctx, run

# Client method -> (HTTP method, route, the SDK type of its answer, the list it is in)
CALLS: dict[str, tuple[str, str, type[sdk.Record], str | None]] = {
    "estimate": ("POST", "/v1/jobs/estimate", sdk.Estimate, None),
    "jobs": ("GET", "/v1/jobs", sdk.Job, "jobs"),
    "job": ("GET", "/v1/jobs/{job_id}", sdk.Job, None),
    "wait": ("GET", "/v1/jobs/{job_id}/wait", sdk.Job, None),
    "explain": ("GET", "/v1/jobs/{job_id}/explain", sdk.Explanation, None),
    "events": ("GET", "/v1/jobs/{job_id}/events", sdk.Event, "events"),
    "cancel": ("POST", "/v1/jobs/{job_id}/cancel", sdk.StateChange, None),
    "end": ("POST", "/v1/jobs/{job_id}/end", sdk.StateChange, None),
    "create_step": ("POST", "/v1/jobs/{job_id}/steps", sdk.Step, None),
    "steps": ("GET", "/v1/jobs/{job_id}/steps", sdk.Step, "steps"),
    "end_step": ("POST", "/v1/jobs/{job_id}/steps/{step_id}/end", sdk.Step, None),
    "update": ("PATCH", "/v1/jobs/{job_id}", sdk.Job, None),
    "nodes": ("GET", "/v1/nodes", sdk.Node, "nodes"),
    "drain": ("POST", "/v1/nodes/{name}/drain", sdk.Node, None),
    "resume": ("POST", "/v1/nodes/{name}/resume", sdk.Node, None),
    "reservations": ("GET", "/v1/reservations", sdk.Reservation, "reservations"),
    "create_reservation": ("POST", "/v1/reservations", sdk.Reservation, None),
    "partitions": ("GET", "/v1/partitions", sdk.Partition, "partitions"),
    "status": ("GET", "/v1/status", sdk.Status, None),
    "whoami": ("GET", "/v1/whoami", sdk.WhoAmI, None),
    "audit": ("GET", "/v1/audit", sdk.AuditEntry, "entries"),
    "associations": ("GET", "/v1/accounts", sdk.Associations, None),
    "shares": ("GET", "/v1/shares", sdk.Share, "shares"),
}
# SDK type -> its model's name in the document, where they differ
SCHEMA = {"Account": "AccountOut", "User": "UserOut", "Association": "AssocOut",
          "Qos": "QosOut", "Share": "ShareRow"}

_JSON = {int: "integer", float: "number", str: "string", bool: "boolean",
         type(None): "null", list: "array", dict: "object"}


def sdk_kinds(annotation: Any) -> set[str]:
    """The JSON types an SDK field's annotation allows (a Record: its schema's name)."""
    if isinstance(annotation, types.UnionType):
        return set().union(*(sdk_kinds(a) for a in annotation.__args__))
    if isinstance(annotation, type) and issubclass(annotation, sdk.Record):
        return {"#" + SCHEMA.get(annotation.__name__, annotation.__name__)}
    origin = typing.get_origin(annotation) or annotation
    return {_JSON[origin]}


def doc_kinds(prop: dict[str, Any]) -> set[str]:
    if "$ref" in prop:
        return {"#" + prop["$ref"].rsplit("/", 1)[-1]}
    if "anyOf" in prop:
        return set().union(*(doc_kinds(p) for p in prop["anyOf"]))
    return {prop["type"]}


def answer_of(doc: dict[str, Any], method: str, path: str, within: str | None
              ) -> list[dict[str, Any]]:
    """The schema(s) of a route's answer (of the items of its list `within`)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    ok = next(code for code in responses if code.startswith("2"))
    schema = responses[ok]["content"]["application/json"]["schema"]
    schemas = [doc["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]]
               for s in ([schema] if "$ref" in schema else schema["anyOf"])]
    if within is not None:  # each alternative's items (GET /v1/jobs: full or brief)
        items = [outer["properties"][within]["items"]["$ref"].rsplit("/", 1)[-1]
                 for outer in schemas]
        schemas = [doc["components"]["schemas"][item] for item in items]
    return schemas


def drift(doc: dict[str, Any], kind: type[sdk.Record], schema: dict[str, Any]) -> list[str]:
    hints = typing.get_type_hints(kind)
    props = schema["properties"]
    out = [f"{kind.__name__}.{f}: not in the document" for f in kind.fields()
           if f not in props]
    out += [f"{kind.__name__}: the document's {f} is not a field" for f in props
            if f not in hints]
    for f in kind.fields():
        if f in props and sdk_kinds(hints[f]) != doc_kinds(props[f]):
            out.append(f"{kind.__name__}.{f}: {sorted(sdk_kinds(hints[f]))} here, "
                       f"{sorted(doc_kinds(props[f]))} in the document")
        inner = (typing.get_args(hints[f]) or (hints[f],))[0] if f in hints else None
        if f in props and isinstance(inner, type) and issubclass(inner, sdk.Record):
            target = props[f].get("items", props[f])
            if "anyOf" in target:  # an optional object: its reference
                target = next(p for p in target["anyOf"] if "$ref" in p)
            ref = target["$ref"].rsplit("/", 1)[-1]
            out += drift(doc, inner, doc["components"]["schemas"][ref])
    return out


def test_the_sdk_types_are_the_documents(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        doc = (await ctx.user.get("/openapi.json")).json()
        found: list[str] = []
        for name, (method, path, kind, within) in CALLS.items():
            assert callable(getattr(Client, name))
            schemas = answer_of(doc, method, path, within)
            named = [s for s in schemas
                     if s["title"] == SCHEMA.get(kind.__name__, kind.__name__)]
            assert named, f"Client.{name}: {path} answers no {kind.__name__}"
            found += drift(doc, kind, named[0])
        assert not found, "\n".join(found)
        # and a drifted SDK type is caught
        class Job(sdk.Job):
            colour: str
        assert drift(doc, Job, doc["components"]["schemas"]["Job"]) == [
            "Job.colour: not in the document"]
    run(tmp_path, "", {}, scenario)


def test_every_typed_client_method_is_checked() -> None:
    records = {n for n, k in vars(sdk).items() if isinstance(k, type) and issubclass(
        k, sdk.Record) and k is not sdk.Record}
    typed = {name for name, fn in vars(Client).items() if callable(fn)
             and records & set(re.findall(r"\w+", str(fn.__annotations__.get("return"))))}
    assert typed == set(CALLS), typed ^ set(CALLS)


JOB = {"id": 7, "state": "RUNNING", "reason": "None", "spec": {"name": "x", "argv": []},
       "node_list": ["n1"]}


def test_an_answer_reads_as_the_dict_it_was() -> None:
    job = sdk.Job(JOB)
    assert job.state == job["state"] == job.get("state") == "RUNNING"
    assert job.get("withheld") is None and "withheld" not in job
    with pytest.raises(AttributeError, match="withheld"):
        _ = job.withheld
    assert isinstance(job.spec, sdk.JobSpec) and job.spec.name == "x"
    assert type(job["spec"]) is dict  # item access gives the JSON as it came
    assert job == JOB and dict(job) == JOB and json.loads(json.dumps(job)) == JOB
    assert pickle.loads(pickle.dumps(job)) == job and copy.deepcopy(job) == job
    assert "state" in dir(job) and repr(job).startswith("Job({")
    with pytest.raises(AttributeError, match="set as items"):
        job.state = "X"  # type: ignore[misc]
    job["state"] = "COMPLETED"
    assert job.state == "COMPLETED"
    tree = sdk.Associations({"accounts": [{"name": "physics"}], "qos": []})
    assert isinstance(tree.accounts[0], sdk.Account) and tree.accounts[0].name == "physics"
    assert type(tree["accounts"][0]) is dict and tree.qos == []


def test_no_field_hides_a_dict_method() -> None:
    for kind in vars(sdk).values():
        if isinstance(kind, type) and issubclass(kind, sdk.Record):
            assert not set(kind.fields()) & set(dir(dict)), kind
            assert "__slots__" in vars(kind), f"{kind.__name__}: no __slots__ (a __dict__ each)"
