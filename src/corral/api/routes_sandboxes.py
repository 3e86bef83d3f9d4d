"""Sandbox files (docs/job-languages.md): users upload input files and fetch a job's
output files; agents (the cluster key) fetch input files and send output files."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel

from corral.api.auth import require_agent
from corral.api.routes_jobs import CallerDep, CtlDep, JobIdPath
from corral.model.errors import NotFound, PermissionDenied
from corral.model.sandbox import SandboxTooLarge, check_digest, check_name
from corral.services.sandboxes import maybe_sweep, store_of
from corral.store.sandboxes import SandboxStore

router = APIRouter()
# a file's bytes, not JSON (the OpenAPI document says so)
_FILE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}
NameQuery = Annotated[str, Query(min_length=1, max_length=255)]


class SandboxFile(BaseModel):
    sha256: str
    size_bytes: int


class OutputFile(SandboxFile):
    name: str


class OutputList(BaseModel):
    files: list[OutputFile]


def _store(request: Request) -> SandboxStore:
    return store_of(request.app.state.controller.cfg)


async def _receive(request: Request, store: SandboxStore, name: str,
                   digest: str | None) -> tuple[str, int]:
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > store.max_file_bytes:
        raise SandboxTooLarge(f"sandbox file {name!r}: {announced} bytes is over the limit "
                              f"of {store.max_file_bytes} per file (sandboxes.max_file_bytes)")
    body = await request.body()
    await asyncio.to_thread(maybe_sweep, request.app.state.controller.cfg)  # retention
    return await asyncio.to_thread(store.put, [body], name=name, digest=digest)


@router.get("/v1/sandboxes/{sha256}", response_model=SandboxFile)
async def sandbox_info(sha256: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Whether a file is stored (a client skips uploading it again)."""
    size = _store(request).size(check_digest(sha256))
    if size is None:
        raise NotFound(f"sandbox file {sha256}: not stored")
    return {"sha256": sha256, "size_bytes": size}


@router.put("/v1/sandboxes/{sha256}", status_code=201, response_model=SandboxFile)
async def upload(sha256: str, request: Request, caller: CallerDep,
                 name: NameQuery = "file") -> dict[str, Any]:
    """An input file, its body checked against the sha256 it is put under."""
    digest, size = await _receive(request, _store(request), name, check_digest(sha256))
    return {"sha256": digest, "size_bytes": size}


@router.get("/agent/v1/sandboxes/{sha256}", dependencies=[Depends(require_agent)],
            response_model=None, response_class=FileResponse, responses=_FILE)
async def agent_fetch(sha256: str, request: Request) -> FileResponse:
    path = _store(request).path(check_digest(sha256))
    if not path.exists():
        raise NotFound(f"sandbox file {sha256}: not stored")
    return FileResponse(path, media_type="application/octet-stream")


@router.put("/agent/v1/jobs/{job_id}/output", dependencies=[Depends(require_agent)],
            status_code=201, response_model=OutputFile)
async def agent_output(job_id: JobIdPath, name: NameQuery, request: Request
                       ) -> dict[str, Any]:
    store = _store(request)
    check_name(name, "name")
    digest, size = await _receive(request, store, name, None)
    await asyncio.to_thread(store.add_output, job_id, name, digest, size)
    return {"name": name, "sha256": digest, "size_bytes": size}


async def _own_job(ctl: Any, caller: Any, job_id: int) -> None:
    job = await ctl.read_job(caller, job_id)
    if not ctl.access.reads_private(caller, job):
        raise PermissionDenied(f"job {job_id}: its output files are its owner's")


@router.get("/v1/jobs/{job_id}/output", response_model=OutputList)
async def output_list(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep,
                      request: Request) -> dict[str, Any]:
    await _own_job(ctl, caller, job_id)
    files = _store(request).outputs(job_id)
    return {"files": [{"name": n, "sha256": d, "size_bytes": s}
                      for n, (d, s) in sorted(files.items())]}


@router.get("/v1/jobs/{job_id}/output/file", response_model=None,
            response_class=FileResponse, responses=_FILE)
async def output_file(job_id: JobIdPath, name: NameQuery, ctl: CtlDep, caller: CallerDep,
                      request: Request) -> Response:
    await _own_job(ctl, caller, job_id)
    store = _store(request)
    found = store.outputs(job_id).get(name)
    if found is None:
        raise NotFound(f"job {job_id}: no output file {name!r}")
    return FileResponse(store.path(found[0]), media_type="application/octet-stream")
