"""Input sandbox files uploaded at submit (docs/job-languages.md): each content once
per command (a Collection's or a parametric job's shared files), and not at all when
the controller already has it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from corral.client.api import Client
from corral.model.errors import InvalidRequest
from corral.model.sandbox import Entry, check_name

LOCAL_INPUTS = "input_sandbox_files"  # a request's local input files, before upload


class Uploads:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.done: dict[str, str] = {}  # local path -> its sha256

    def entries(self, paths: Iterable[str]) -> list[str]:
        """`SHA256:MODE:NAME` of each local file (NAME: its base name), uploaded if the
        controller does not have it."""
        out = []
        for p in paths:
            name = os.path.basename(os.path.normpath(p))
            check_name(name, "input sandbox")
            digest = self.done.get(p)
            if digest is None:
                try:
                    data = Path(p).read_bytes()
                except OSError as e:
                    raise InvalidRequest(f"input sandbox: {p!r}: cannot read it "
                                         f"({e.strerror or e})") from None
                digest = hashlib.sha256(data).hexdigest()
                if digest not in self.done.values() \
                        and self.client.sandbox_size(digest) is None:
                    self.client.upload_sandbox(digest, data, name)
                self.done[p] = digest
            out.append(Entry(digest, os.access(p, os.X_OK), name).text())
        return out


def with_uploads(client: Client, requests: Sequence[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The requests with their local input files uploaded and named by content."""
    uploads = Uploads(client)
    out = []
    for r in requests:
        req = dict(r)
        local = req.pop(LOCAL_INPUTS, None)
        if local:
            req["input_sandbox"] = list(req.get("input_sandbox") or []) \
                + uploads.entries(local)
        out.append(req)
    return out
