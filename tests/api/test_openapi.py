"""/openapi.json describes every answer, and the answers are what it says."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from corral.services.leader import Leadership
from tests.api.harness import Ctx, run

CONFIG = ('[[partitions]]\nname = "main"\ndefault = true\nmax_time_s = "1:00:00"\n'
          '[[partitions]]\nname = "small"\nnodes = ["n1"]\nmax_nodes = 1\n')

_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),)}


def problems(doc: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list[str]:
    """Where `value` departs from `schema` (a part of the OpenAPI document): a key the
    document does not name, a required one missing, a value of another type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return problems(doc, doc["components"]["schemas"][name], value, at)
    if "anyOf" in schema:
        found = [problems(doc, s, value, at) for s in schema["anyOf"]]
        return [] if any(not f for f in found) else min(found, key=len)
    kind = schema.get("type")
    if kind is not None:
        if isinstance(value, bool) and kind in ("integer", "number"):
            return [f"{at}: {value!r} is not a {kind}"]
        if not isinstance(value, _TYPES[kind]):
            return [f"{at}: {value!r} is not a {kind}"]
    out: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        out += [f"{at}.{k}: not in the document" for k in value if k not in props]
        out += [f"{at}.{k}: required, missing" for k in schema.get("required", [])
                if k not in value]
        for k, v in value.items():
            if k in props:
                out += problems(doc, props[k], v, f"{at}.{k}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for k, v in value.items():
            out += problems(doc, schema["additionalProperties"], v, f"{at}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += problems(doc, schema["items"], v, f"{at}[{i}]")
    return out


def answer_schema(doc: dict[str, Any], method: str, path: str, status: int
                  ) -> dict[str, Any]:
    op = doc["paths"][path][method.lower()]
    schema: dict[str, Any] = op["responses"][str(status)]["content"]["application/json"][
        "schema"]
    return schema


def test_every_route_names_its_answer(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.user.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        routes = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]
        assert len(routes) >= 34, routes
        untyped = []
        for method, path in routes:
            op = doc["paths"][path][method.lower()]
            ok = [c for c in op["responses"] if c.startswith("2")]
            content = op["responses"][ok[0]].get("content", {}) if ok else {}
            if content.get("application/octet-stream", {}).get("schema", {}).get(
                    "format") == "binary" and "application/json" not in content:
                continue  # a file's bytes (a sandbox file)
            schema = (op["responses"][ok[0]].get("content", {})
                      .get("application/json", {}).get("schema", {})) if ok else {}
            refs = [schema] if "$ref" in schema else schema.get("anyOf", [])
            if not refs or not all("$ref" in s for s in refs):
                untyped.append(f"{method} {path}: {schema}")
        assert not untyped, "routes without a response model:\n" + "\n".join(untyped)
        # and every model names and types each of its fields
        for name, schema in doc["components"]["schemas"].items():
            for field, prop in schema.get("properties", {}).items():
                assert prop, f"{name}.{field}: no type in the document"
    run(tmp_path, CONFIG, {}, scenario)


def test_answers_are_what_the_document_says(tmp_path: Path) -> None:
    """Every route answers, and each answer has the document's fields and types: none
    left out of the document (its model passes unknown fields on), none missing."""
    async def scenario(ctx: Ctx) -> None:
        doc = (await ctx.user.get("/openapi.json")).json()
        seen: set[tuple[str, str]] = set()

        async def call(method: str, url: str, path: str, status: int = 200,
                       **kw: Any) -> Any:
            r = await ctx.user.request(method, url, **kw) if not path.startswith(
                "/agent") else await ctx.agent.request(method, url, **kw)
            assert r.status_code == status, (method, url, r.text)
            found = problems(doc, answer_schema(doc, method, path, status), r.json(),
                             f"{method} {path}")
            assert not found, found
            seen.add((method, path))
            return r.json()

        await call("POST", "/agent/v1/register", "/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b-n1",
            "features": ["a"]})
        now = time.time()
        job = await call("POST", "/v1/jobs", "/v1/jobs", 201, json={
            "name": "t", "working_dir": "/tmp", "argv": ["true"], "time_limit_s": 60})
        j = job["id"]
        arr = await call("POST", "/v1/jobs", "/v1/jobs", 201, json={
            "name": "a", "working_dir": "/tmp", "argv": ["true"], "array": "0-9%2",
            "hold": True})
        await call("POST", "/v1/jobs:batch", "/v1/jobs:batch", json={"jobs": [
            {"name": "b", "working_dir": "/tmp", "argv": ["true"]}, {"name": ""}]})
        await call("POST", "/v1/jobs/estimate", "/v1/jobs/estimate", json={
            "name": "e", "working_dir": "/tmp", "argv": ["true"]})
        await call("GET", "/v1/jobs", "/v1/jobs")
        await call("GET", "/v1/jobs?history=true", "/v1/jobs")
        await call("GET", "/v1/jobs?view=brief", "/v1/jobs")
        await call("GET", "/v1/jobs?view=brief&history=true", "/v1/jobs")
        await call("GET", f"/v1/jobs/{j}", "/v1/jobs/{job_id}")
        await call("GET", f"/v1/jobs/{j}/explain", "/v1/jobs/{job_id}/explain")
        await call("GET", f"/v1/jobs/{j}/events", "/v1/jobs/{job_id}/events")
        await call("PATCH", f"/v1/jobs/{arr['id']}?array=true", "/v1/jobs/{job_id}",
                   json={"nice": 5})
        await call("POST", f"/v1/jobs/{arr['id']}/release?array=true",
                   "/v1/jobs/{job_id}/release")
        await call("POST", f"/v1/jobs/{arr['id']}/hold?array=true",
                   "/v1/jobs/{job_id}/hold")
        await call("POST", f"/v1/jobs/{arr['id']}/cancel?array=true",
                   "/v1/jobs/{job_id}/cancel")
        for _ in range(20):  # a pause of the process can delay the scheduling pass
            orders = await call("POST", "/agent/v1/poll", "/agent/v1/poll", json={
                "node": "n1", "boot_id": "b-n1", "wait_s": 0.5, "unacknowledged": []})
            if [o for o in orders["orders"] if o["kind"] == "launch"]:
                break
        assert [o for o in orders["orders"] if o["kind"] == "launch"]
        await call("POST", "/agent/v1/poll", "/agent/v1/poll", json={
            "node": "n1", "boot_id": "b-n1", "wait_s": 0, "unacknowledged": [],
            "running": [{"job_id": j, "pid": 10, "rss_mb": 1.5}]})
        await call("GET", f"/v1/jobs/{j}", "/v1/jobs/{job_id}")  # with its live usage
        await call("GET", "/v1/status", "/v1/status")
        await call("GET", "/v1/auth", "/v1/auth")
        await call("GET", "/v1/whoami", "/v1/whoami")
        await call("GET", "/v1/nodes", "/v1/nodes")
        await call("GET", "/v1/partitions", "/v1/partitions")
        step = await call("POST", f"/v1/jobs/{j}/steps", "/v1/jobs/{job_id}/steps", 201,
                          json={"argv": ["true"], "working_dir": "/tmp", "io_port": 9,
                                "io_key": "k" * 16})
        await call("GET", f"/v1/jobs/{j}/steps", "/v1/jobs/{job_id}/steps")
        await call("POST", f"/v1/jobs/{j}/steps/{step['step_id']}/end",
                   "/v1/jobs/{job_id}/steps/{step_id}/end", json={"exit_code": 0})
        await call("PATCH", f"/v1/jobs/{j}", "/v1/jobs/{job_id}", json={"nice": 1})
        await call("POST", f"/v1/jobs/{j}/cancel", "/v1/jobs/{job_id}/cancel",
                   json={"signal": 10})
        await call("POST", "/agent/v1/health", "/agent/v1/health", json={
            "node": "n1", "boot_id": "b-n1", "ok": True})
        await call("POST", "/agent/v1/check", "/agent/v1/check", json={
            "node": "n1", "boot_id": "b-n1", "kind": "epilog", "job_id": j,
            "message": "epilog: exit 1"})
        await call("POST", "/agent/v1/report", "/agent/v1/report", json={
            "node": "n1", "reports": [{"job_id": j, "state": "COMPLETED", "exit_code": 0,
                                       "t_start": now, "t_end": time.time()}]})
        await call("GET", f"/v1/jobs/{j}/wait?timeout_s=0", "/v1/jobs/{job_id}/wait")
        usage = await call("GET", f"/v1/jobs/{j}/usage", "/v1/jobs/{job_id}/usage")
        assert usage["steps"], "the job's step has no usage record"
        period = f"start={now - 3600}&end={time.time() + 10}"
        await call("GET", f"/v1/reports/utilization?{period}&bucket=hour",
                   "/v1/reports/utilization")
        await call("GET", f"/v1/reports/users?{period}", "/v1/reports/users")
        await call("GET", f"/v1/reports/accounts?{period}", "/v1/reports/accounts")
        await call("GET", f"/v1/reports/jobs?{period}&by=wait", "/v1/reports/jobs")
        await call("GET", "/v1/jobs?history=true", "/v1/jobs")
        await call("POST", f"/v1/jobs/{j}/requeue", "/v1/jobs/{job_id}/requeue")
        held = await call("POST", "/v1/jobs", "/v1/jobs", 201, json={
            "name": "h", "working_dir": "/tmp", "argv": ["true"]})
        await call("POST", f"/v1/jobs/{held['id']}/hold", "/v1/jobs/{job_id}/hold")
        await call("POST", f"/v1/jobs/{held['id']}/release", "/v1/jobs/{job_id}/release")
        alloc = await call("POST", "/v1/jobs", "/v1/jobs", 201, json={
            "name": "i", "working_dir": "/tmp", "argv": [], "interactive": True})
        await call("POST", f"/v1/jobs/{alloc['id']}/end", "/v1/jobs/{job_id}/end",
                   json={"exit_code": 0})
        await call("POST", "/v1/reservations", "/v1/reservations", 201, json={
            "name": "r1", "nodes": ["n1"], "t_start": now + 3600, "t_end": now + 7200})
        await call("GET", "/v1/reservations", "/v1/reservations")
        await call("DELETE", "/v1/reservations/r1", "/v1/reservations/{name}")
        await call("POST", "/v1/nodes/n1/drain", "/v1/nodes/{name}/drain",
                   json={"reason": "fan"})
        await call("POST", "/v1/nodes/n1/resume", "/v1/nodes/{name}/resume")
        await call("POST", "/agent/v1/register", "/agent/v1/register", json={
            "node": "n2", "cpus": 1, "mem_mb": 100, "boot_id": "b-n2"})
        await call("DELETE", "/v1/nodes/n2", "/v1/nodes/{name}", status=200)
        await call("POST", "/agent/v1/register", "/agent/v1/register", json={
            "node": "p3", "cpus": 1, "mem_mb": 100, "boot_id": "b-p3", "site": "far",
            "deadline": time.time() + 600, "batch_job": "17"})
        sites = await call("GET", "/v1/sites", "/v1/sites")
        assert [s["name"] for s in sites["sites"]] == ["far"]
        await call("POST", "/agent/v1/leave", "/agent/v1/leave", json={
            "node": "p3", "boot_id": "b-p3", "why": "idle"})
        entries = await call("GET", "/v1/audit", "/v1/audit")
        assert entries["entries"], "the calls above left no audit entry"
        await call("POST", "/v1/qos", "/v1/qos", 201, json={"name": "gold", "priority": 5})
        await call("PATCH", "/v1/qos/gold", "/v1/qos/{name}", json={"max_wall_s": 600})
        await call("POST", "/v1/accounts", "/v1/accounts", 201, json={
            "name": "physics", "shares": 40, "qos": ["gold"]})
        await call("PATCH", "/v1/accounts/physics", "/v1/accounts/{name}",
                   json={"max_jobs": 4})
        await call("POST", "/v1/users", "/v1/users", 201, json={
            "name": "alice", "accounts": ["physics"]})
        await call("PATCH", "/v1/users/alice", "/v1/users/{name}", json={"max_cpus": 2})
        await call("GET", "/v1/accounts", "/v1/accounts")
        await call("GET", "/v1/shares", "/v1/shares")
        await call("DELETE", "/v1/users/alice?account=physics", "/v1/users/{name}")
        await call("DELETE", "/v1/accounts/physics", "/v1/accounts/{name}")
        await call("DELETE", "/v1/qos/gold", "/v1/qos/{name}")
        await call("GET", "/v1/credentials", "/v1/credentials")
        # the election (a controller alone on its SQLite file leads at once)
        lead = Leadership(ctx.ctl.engine, address="unix:///here", lease_s=5.0)
        await asyncio.to_thread(lead.wait_to_lead)
        handed: list[bool] = []
        lead.on_handover = lambda: handed.append(True)
        ctx.user._transport.app.app.state.leadership = lead  # type: ignore[attr-defined]
        await call("GET", "/v1/controllers", "/v1/controllers")
        await call("POST", "/v1/controller/step-down", "/v1/controller/step-down")
        assert handed == [True]
        # sandbox files (docs/job-languages.md); the downloads are bytes, not JSON
        data = b"sandbox bytes"
        sha = hashlib.sha256(data).hexdigest()
        await call("PUT", f"/v1/sandboxes/{sha}?name=f", "/v1/sandboxes/{sha256}", 201,
                   content=data)
        await call("GET", f"/v1/sandboxes/{sha}", "/v1/sandboxes/{sha256}")
        await call("PUT", f"/agent/v1/jobs/{j}/output?name=out.txt",
                   "/agent/v1/jobs/{job_id}/output", 201, content=data)
        await call("GET", f"/v1/jobs/{j}/output", "/v1/jobs/{job_id}/output")
        for who, url, path in (
                (ctx.agent, f"/agent/v1/sandboxes/{sha}", "/agent/v1/sandboxes/{sha256}"),
                (ctx.user, f"/v1/jobs/{j}/output/file?name=out.txt",
                 "/v1/jobs/{job_id}/output/file")):
            r = await who.get(url)
            assert r.status_code == 200 and r.content == data, (url, r.text)
            seen.add(("GET", path))
        every = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        # these need an OpenID provider: tests/api/test_credentials.py checks them
        every -= {("POST", "/v1/credentials"), ("POST", "/v1/credentials/token"),
                  ("POST", "/v1/credentials/revoke"), ("DELETE", "/v1/credentials/{cred_id}")}
        assert every - seen == set(), f"routes this test does not call: {every - seen}"
    run(tmp_path, CONFIG, {}, scenario)
