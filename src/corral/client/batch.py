"""Many submissions in few requests: POST /v1/jobs:batch, split into chunks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.client.api import SUBMIT_RETRY_S
from corral.client.transport import Transport
from corral.model.errors import InvalidRequest

MAX_BATCH_JOBS = 1000  # the controller's limit per request (docs/specs/05-rest-api.md)


@dataclass(frozen=True, slots=True)
class Submitted:
    """One request's outcome: its new id(s), or why it was refused."""

    index: int
    id: int | None = None
    ids: list[int] = field(default_factory=list)
    error: str | None = None  # the error code ("invalid", "not_found", ...)
    message: str | None = None  # one line naming the field, the value and the limit
    replayed: bool = False  # answered from an earlier submission with the same key

    @property
    def ok(self) -> bool:
        return self.error is None


def submit_batch(transport: Transport, requests: Iterable[Mapping[str, Any]], *,
                 chunk: int | None = None) -> list[Submitted]:
    size = MAX_BATCH_JOBS if chunk is None else chunk
    if not 1 <= size <= MAX_BATCH_JOBS:
        raise InvalidRequest(f"chunk: {size} is not between 1 and {MAX_BATCH_JOBS}")
    items = [dict(r) for r in requests]
    out: list[Submitted] = []
    for start in range(0, len(items), size):
        part = items[start:start + size]
        # a chunk whose every item has an idempotency key is safe to send again
        keyed = all(r.get("idempotency_key") for r in part)
        answer = transport.request("POST", "/v1/jobs:batch", body={"jobs": part},
                                   retry_s=SUBMIT_RETRY_S if keyed else 0.0)
        for r in answer["results"]:
            index = start + int(r["index"])
            if r.get("error"):
                out.append(Submitted(index=index, error=str(r["error"]),
                                     message=str(r.get("message", ""))))
            else:
                ids = [int(i) for i in r.get("ids") or [r["id"]]]
                out.append(Submitted(index=index, id=min(ids), ids=ids,
                                     replayed=bool(r.get("replayed"))))
    return out
