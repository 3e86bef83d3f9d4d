"""Client: one method per REST operation (docs/specs/05-rest-api.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.client.transport import Transport, is_remote
from corral.client.types import (
    ArrayUpdated,
    Associations,
    AuditEntry,
    Estimate,
    Event,
    Explanation,
    Job,
    Node,
    Partition,
    Reservation,
    Share,
    StateChange,
    Status,
    Step,
    WhoAmI,
)
from corral.model.errors import NotFound

if TYPE_CHECKING:  # imported where used: the submit path stays light
    from corral.client.batch import Submitted
    from corral.model.jobid import JobRef

SYSTEM_SOCKET = "/run/corral/corral.sock"  # where a system install's controller listens
# Set by the launchers `corral compat install` writes: the controller they were
# installed for, so that they find it in any environment (even `env -i`).
BOUND_URL: str | None = None

# How long a submit whose connection was lost is tried again (the same key each time).
SUBMIT_RETRY_S = 20.0


def default_url() -> str:
    """Where the controller is, first found of: CORRAL_URL; CORRAL_SOCKET; the socket
    in CORRAL_STATE_DIR; the controller a launcher was installed for; the socket in
    the user's state dir (XDG_STATE_HOME or ~/.local/state)/corral if it exists; the
    system install's socket (CORRAL_SYSTEM_SOCKET, default /run/corral/corral.sock) if
    it exists; else the user's socket (which then says that nothing answers)."""
    url = os.environ.get("CORRAL_URL")
    if url:
        return url
    sock = os.environ.get("CORRAL_SOCKET")
    if sock:
        return f"unix://{sock}"
    state = os.environ.get("CORRAL_STATE_DIR")
    if state:
        return f"unix://{Path(state) / 'corral.sock'}"
    if BOUND_URL:
        return BOUND_URL
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    mine = Path(base) / "corral" / "corral.sock"
    system = Path(os.environ.get("CORRAL_SYSTEM_SOCKET") or SYSTEM_SOCKET)
    if not mine.exists() and system.exists():
        return f"unix://{system}"
    return f"unix://{mine}"


class Client:
    def __init__(self, url: str | None = None, *, token: str | None = None,
                 timeout_s: float | None = None) -> None:
        """`timeout_s`: how long a request may wait for its answer (default
        CORRAL_TIMEOUT_S, else 30 s). `token`: a bearer token for a remote (http or
        https) controller; default CORRAL_TOKEN, else a service account's token
        (CORRAL_CLIENT_ID and CORRAL_CLIENT_SECRET) or the one `corral login` keeps."""
        where = url or default_url()
        token = token or os.environ.get("CORRAL_TOKEN")
        source = None
        if token is None and is_remote(where):
            from corral.client.tokens import access_token

            def source() -> str | None:
                return access_token(where)
            token = source()
        self._login_url = where if source is not None else None  # a cached login's
        self.transport = Transport(where, token=token, timeout_s=timeout_s,
                                   token_source=source)

    def _hand_over_login(self) -> None:
        """A `credential` job over TCP: the login's refresh token goes to the
        controller first, once (docs/identity.md, job credentials)."""
        if self._login_url is None:
            return
        from corral.client.tokens import hand_over
        token = hand_over(self._login_url, lambda body: self.transport.request(
            "POST", "/v1/credentials", body=body, timeout_s=60.0))
        if token is not None:
            self.transport.token = token

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # jobs
    def submit(self, **request: Any) -> int:
        """Submit one job; returns its id (for an array: the array's id)."""
        return self.submit_many(**request)[0]

    def submit_many(self, *, idempotency_key: str | None = None, **request: Any) -> list[int]:
        """Submit; returns every new job id (one per array task).

        Each call sends an idempotency key (a new one unless given): when the
        connection is lost before the answer, the same request is sent again and
        the controller answers with the job it made, never a second one."""
        key = idempotency_key or os.urandom(16).hex()  # as uuid4, without importing uuid
        if request.get("credential"):
            self._hand_over_login()
        answer = self.transport.request("POST", "/v1/jobs", body=request,
                                        headers={"Idempotency-Key": key},
                                        retry_s=SUBMIT_RETRY_S)
        return [int(i) for i in answer.get("ids") or [answer["id"]]]

    def estimate(self, **request: Any) -> Estimate:
        """When and where this submission would start now (nothing is queued)."""
        return Estimate(self.transport.request("POST", "/v1/jobs/estimate", body=request))

    def credentials(self) -> list[dict[str, Any]]:
        """The sign-ins the controller keeps for `--credential` jobs (a user's own)."""
        return list(self.transport.request("GET", "/v1/credentials")["credentials"])

    def revoke_credential(self, credential_id: int) -> None:
        """End a credential: its jobs' tokens are renewed no more."""
        self.transport.request("DELETE", f"/v1/credentials/{int(credential_id)}")

    def submit_batch(self, requests: Iterable[Mapping[str, Any]], *,
                     chunk: int | None = None) -> list[Submitted]:
        """Submit many jobs in few requests (POST /v1/jobs:batch, `chunk` per request,
        default and at most the controller's limit). Each request is checked as a
        single submit would be; one refused does not stop the others. Returns one
        `Submitted` per request, in order: `.id`/`.ids`, or `.error` and `.message`.
        A request may carry its own `idempotency_key`; a chunk whose every request
        has one is sent again if the connection is lost before the answer."""
        from corral.client.batch import submit_batch
        return submit_batch(self.transport, requests, chunk=chunk)

    def jobs(self, *, history: bool = False, expand_arrays: bool = False,
             brief: bool = False, **filters: Any) -> list[Job]:
        """Jobs; an array's pending rest is one entry (`57_[5-99]`) unless
        `expand_arrays`, which lists each of its tasks (expanded here, not by the
        controller). `brief`: each job with only what job tables show (the API's
        JobBrief: no spec, no usage; a fifth of the bytes to fetch and decode)."""
        q = {k: v for k, v in filters.items() if v}
        if history:
            q["history"] = "true"
        if brief:
            q["view"] = "brief"
        found = list(self.transport.request("GET", "/v1/jobs", query=q)["jobs"])
        if expand_arrays and any(j.get("array_pending") for j in found):
            from corral.model.arrays import expand_rest
            found = [t for j in found for t in expand_rest(j)]
        return [Job(j) for j in found]

    def resolve(self, ref: JobRef) -> list[int]:
        """The job ids an id as written names: `A` itself, or the tasks `A_I`,
        `A_[I-J]` of array A (queued or finished); none found is NotFound."""
        if ref.tasks is None:
            return [ref.job_id]
        wanted = set(ref.tasks)
        tasks = {j["array_task_id"]: int(j["id"])
                 for j in self.jobs(history=True, array=[str(ref.job_id)],
                                    expand_arrays=True)
                 if j.get("array_job_id") == ref.job_id and j.get("array_task_id") in wanted}
        if not tasks:
            raise NotFound(f"job {ref.text}: no such array task")
        return [tasks[t] for t in sorted(tasks)]

    def job(self, job_id: int) -> Job:
        return Job(self.transport.request("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job_id: int, timeout_s: float = 60.0) -> Job:
        """The job once it has ended, or as it is after `timeout_s`."""
        return Job(self.transport.request(
            "GET", f"/v1/jobs/{job_id}/wait", query={"timeout_s": timeout_s},
            timeout_s=timeout_s + self.transport.timeout_s))

    def explain(self, job_id: int) -> Explanation:
        return Explanation(self.transport.request("GET", f"/v1/jobs/{job_id}/explain"))

    def events(self, job_id: int) -> list[Event]:
        return [Event(e) for e in
                self.transport.request("GET", f"/v1/jobs/{job_id}/events")["events"]]

    def cancel(self, job_id: int, signal: int | None = None, target: str = "all",
               step_id: int | None = None, *, whole_array: bool = False) -> StateChange:
        """Cancel; with `signal`, send it to all (or the batch script's / the steps' /
        one step's) processes instead. `whole_array`: an array's id cancels all of it."""
        body: dict[str, Any] = {"signal": signal, "target": target} if signal else {}
        if signal and step_id is not None:
            body["step_id"] = step_id
        return StateChange(self.transport.request(
            "POST", f"/v1/jobs/{job_id}/cancel", body=body, query=_whole(whole_array)))

    def end(self, job_id: int, exit_code: int = 0) -> StateChange:
        """End an allocation (an interactive job) this client holds."""
        return StateChange(self.transport.request(
            "POST", f"/v1/jobs/{job_id}/end", body={"exit_code": exit_code}))

    # steps
    def create_step(self, job_id: int, **request: Any) -> Step:
        return Step(self.transport.request("POST", f"/v1/jobs/{job_id}/steps", body=request))

    def steps(self, job_id: int) -> list[Step]:
        return [Step(s) for s in
                self.transport.request("GET", f"/v1/jobs/{job_id}/steps")["steps"]]

    def end_step(self, job_id: int, step_id: int, *, exit_code: int | None = None,
                 signal: int | None = None, cancelled: bool = False,
                 out_of_memory: bool = False) -> Step:
        return Step(self.transport.request(
            "POST", f"/v1/jobs/{job_id}/steps/{step_id}/end",
            body={"exit_code": exit_code, "signal": signal, "cancelled": cancelled,
                  "out_of_memory": out_of_memory}))

    def hold(self, job_id: int, *, whole_array: bool = False) -> None:
        self.transport.request("POST", f"/v1/jobs/{job_id}/hold", query=_whole(whole_array))

    def release(self, job_id: int, *, whole_array: bool = False) -> None:
        self.transport.request("POST", f"/v1/jobs/{job_id}/release",
                               query=_whole(whole_array))

    def requeue(self, job_id: int, *, hold: bool = False) -> None:
        self.transport.request("POST", f"/v1/jobs/{job_id}/requeue", body={"hold": hold})

    def update(self, job_id: int, *, whole_array: bool = False, **fields: Any
               ) -> Job | ArrayUpdated:
        """The job as changed; `whole_array` on an array's id: how many tasks changed."""
        answer = self.transport.request("PATCH", f"/v1/jobs/{job_id}", body=fields,
                                        query=_whole(whole_array))
        return Job(answer) if "state" in answer else ArrayUpdated(answer)

    # cluster
    def nodes(self) -> list[Node]:
        return [Node(n) for n in self.transport.request("GET", "/v1/nodes")["nodes"]]

    def drain(self, node: str, reason: str) -> Node:
        return Node(self.transport.request("POST", f"/v1/nodes/{node}/drain",
                                           body={"reason": reason}))

    def resume(self, node: str) -> Node:
        return Node(self.transport.request("POST", f"/v1/nodes/{node}/resume"))

    def delete_node(self, node: str) -> None:
        self.transport.request("DELETE", f"/v1/nodes/{node}")

    def reservations(self) -> list[Reservation]:
        return [Reservation(r) for r in
                self.transport.request("GET", "/v1/reservations")["reservations"]]

    def create_reservation(self, **request: Any) -> Reservation:
        return Reservation(self.transport.request("POST", "/v1/reservations", body=request))

    def delete_reservation(self, name: str) -> None:
        self.transport.request("DELETE", f"/v1/reservations/{name}")

    # associations: accounts, users, QOS (docs/accounting.md); changes: administrators
    def associations(self, *, users: Iterable[str] = (),
                     accounts: Iterable[str] = ()) -> Associations:
        return Associations(self.transport.request(
            "GET", "/v1/accounts", query={"user": list(users), "account": list(accounts)}))

    def shares(self) -> list[Share]:
        return [Share(r) for r in self.transport.request("GET", "/v1/shares")["shares"]]

    def change_association(self, method: str, kind: str, name: str | None = None,
                           body: dict[str, Any] | None = None,
                           query: dict[str, Any] | None = None) -> Any:
        """POST (name in the body), PATCH or DELETE of an account, user or qos."""
        if kind not in ("accounts", "users", "qos"):
            raise ValueError(f"kind: {kind!r} is not accounts, users or qos")
        path = f"/v1/{kind}" + (f"/{name}" if name is not None else "")
        return self.transport.request(method, path, body=body, query=query)

    # usage reports over a period (docs/accounting.md); times in epoch seconds
    def report(self, kind: str, **query: Any) -> dict[str, Any]:
        """GET /v1/reports/{kind} (utilization, users, accounts, jobs) with `query`
        (start, end, bucket, top, group, user, account, by, partition)."""
        if kind not in ("utilization", "users", "accounts", "jobs"):
            raise ValueError(f"kind: {kind!r} is not utilization, users, accounts or jobs")
        q = {k: ("true" if v is True else "false" if v is False else v)
             for k, v in query.items()}
        return dict(self.transport.request("GET", f"/v1/reports/{kind}", query=q))

    def job_usage(self, job_id: int) -> dict[str, Any]:
        """A finished job's usage record and its steps' ({"job", "steps"})."""
        return dict(self.transport.request("GET", f"/v1/jobs/{int(job_id)}/usage"))

    # sandbox files (docs/job-languages.md)
    def sandbox_size(self, sha256: str) -> int | None:
        """The stored file's size, None when the controller does not have it."""
        try:
            info = self.transport.request("GET", f"/v1/sandboxes/{sha256}")
        except NotFound:
            return None
        return int(info["size_bytes"])

    def upload_sandbox(self, sha256: str, data: bytes, name: str) -> int:
        """PUT one input file (checked against `sha256`); its size."""
        info = self.transport.request("PUT", f"/v1/sandboxes/{sha256}", data=data,
                                      query={"name": name}, timeout_s=300.0)
        return int(info["size_bytes"])

    def output_files(self, job_id: int) -> list[dict[str, Any]]:
        """The output files collected for a job: name, sha256, size_bytes."""
        return list(self.transport.request("GET", f"/v1/jobs/{int(job_id)}/output")["files"])

    def output_file(self, job_id: int, name: str) -> bytes:
        data: bytes = self.transport.request("GET", f"/v1/jobs/{int(job_id)}/output/file",
                                             query={"name": name}, raw=True, timeout_s=300.0)
        return data

    def sites(self) -> list[dict[str, Any]]:
        """Each site's nodes and pilots, queued demand and throughput (docs/pilots.md)."""
        sites: list[dict[str, Any]] = self.transport.request("GET", "/v1/sites")["sites"]
        return sites

    def partitions(self) -> list[Partition]:
        return [Partition(p) for p in
                self.transport.request("GET", "/v1/partitions")["partitions"]]

    def whoami(self) -> WhoAmI:
        """Who the controller takes this client for: user, uid, gid, and for a token
        its issuer, subject, groups and roles."""
        return WhoAmI(self.transport.request("GET", "/v1/whoami"))

    def audit(self, **filters: Any) -> list[AuditEntry]:
        """Audit entries (user, job, action, since, until, limit), oldest first."""
        q = {k: v for k, v in filters.items() if v not in (None, [], ())}
        return [AuditEntry(e) for e in
                self.transport.request("GET", "/v1/audit", query=q)["entries"]]

    def status(self) -> Status:
        return Status(self.transport.request("GET", "/v1/status", timeout_s=5.0))

    def controllers(self) -> dict[str, Any]:
        """The leader, its epoch and every controller sharing the database (any
        controller answers this, a follower too)."""
        out: dict[str, Any] = self.transport.request("GET", "/v1/controllers",
                                                     timeout_s=5.0)
        return out

    def step_down(self) -> dict[str, Any]:
        """Have the leader hand over to a follower (administrators)."""
        out: dict[str, Any] = self.transport.request("POST", "/v1/controller/step-down")
        return out


def _whole(whole_array: bool) -> dict[str, Any] | None:
    return {"array": "true"} if whole_array else None
