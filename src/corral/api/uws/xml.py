"""The UWS 1.1 documents (the schema's `jobs`, `job`, `results` and `parameters`
elements, namespace http://www.ivoa.net/xml/UWS/v1.0), written with the standard
library's ElementTree. Times are ISO 8601 in UTC with the 'Z' designator."""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from xml.etree import ElementTree as ET

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VERSION = "1.1"
MEDIA_TYPE = "application/xml"


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def iso(t: float) -> str:
    """An instant as UWS writes it: `2026-11-30T10:01:02.123Z`."""
    ms = round(t * 1000)
    d = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Result:
    id: str
    href: str
    size_bytes: int

    @property
    def mime_type(self) -> str:
        return mimetypes.guess_type(self.id)[0] or "text/plain"


@dataclass(frozen=True, slots=True)
class JobDoc:
    """What a job's document says (api/uws/routes.py fills it from a UwsView)."""

    id: int
    href: str
    run_id: str | None
    owner: str
    phase: str
    quote: float | None
    t_created: float
    t_start: float | None
    t_end: float | None
    execution_duration_s: int
    t_destruction: float | None
    parameters: Mapping[str, str]  # (a file parameter: the URL of its file)
    results: tuple[Result, ...]
    error: tuple[bool, str] | None  # (transient, message)
    corral_job_id: int | None
    by_reference: frozenset[str] = frozenset()  # the parameters that are files


def _root(name: str) -> ET.Element:
    root = ET.Element(_q(UWS_NS, name))
    if name in ("job", "jobs"):  # (the schema gives the others no version)
        root.set("version", VERSION)
    return root


def _text(parent: ET.Element, name: str, value: str | None) -> ET.Element:
    """A child element; None: xsi:nil."""
    el = ET.SubElement(parent, _q(UWS_NS, name))
    if value is None:
        el.set(_q(XSI_NS, "nil"), "true")
    else:
        el.text = value
    return el


def _time(parent: ET.Element, name: str, t: float | None) -> None:
    _text(parent, name, None if t is None else iso(t))


def _document(root: ET.Element) -> bytes:
    ET.register_namespace("uws", UWS_NS)
    ET.register_namespace("xlink", XLINK_NS)
    ET.register_namespace("xsi", XSI_NS)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job as the job list shows it."""

    id: int
    href: str
    phase: str
    run_id: str | None
    owner: str
    t_created: float


def job_list(jobs: Iterable[JobRef]) -> bytes:
    root = _root("jobs")
    for j in jobs:
        ref = ET.SubElement(root, _q(UWS_NS, "jobref"))
        ref.set("id", str(j.id))
        ref.set(_q(XLINK_NS, "type"), "simple")
        ref.set(_q(XLINK_NS, "href"), j.href)
        _text(ref, "phase", j.phase)
        if j.run_id is not None:
            _text(ref, "runId", j.run_id)
        _text(ref, "ownerId", j.owner)
        _time(ref, "creationTime", j.t_created)
    return _document(root)


def _parameters(parent: ET.Element | None, params: Mapping[str, str],
                by_reference: frozenset[str] = frozenset()) -> ET.Element:
    """Each parameter; those in `by_reference` (uploaded files) are the URL of their
    content (byReference="true")."""
    el = _root("parameters") if parent is None \
        else ET.SubElement(parent, _q(UWS_NS, "parameters"))
    for name, value in sorted(params.items()):
        p = ET.SubElement(el, _q(UWS_NS, "parameter"))
        p.set("id", name)
        if name in by_reference:
            p.set("byReference", "true")
        p.text = value
    return el


def _results(parent: ET.Element | None, results: Iterable[Result]) -> ET.Element:
    el = _root("results") if parent is None else ET.SubElement(parent, _q(UWS_NS, "results"))
    for r in results:
        x = ET.SubElement(el, _q(UWS_NS, "result"))
        x.set("id", r.id)
        x.set(_q(XLINK_NS, "type"), "simple")
        x.set(_q(XLINK_NS, "href"), r.href)
        x.set("size", str(r.size_bytes))
        x.set("mime-type", r.mime_type)
    return el


def job(j: JobDoc) -> bytes:
    root = _root("job")
    _text(root, "jobId", str(j.id))
    if j.run_id is not None:
        _text(root, "runId", j.run_id)
    _text(root, "ownerId", j.owner)
    _text(root, "phase", j.phase)
    _time(root, "quote", j.quote)
    _time(root, "creationTime", j.t_created)
    _time(root, "startTime", j.t_start)
    _time(root, "endTime", j.t_end)
    _text(root, "executionDuration", str(j.execution_duration_s))
    _time(root, "destruction", j.t_destruction)
    _parameters(root, j.parameters, j.by_reference)
    _results(root, j.results)
    if j.error is not None:
        transient, message = j.error
        summary = ET.SubElement(root, _q(UWS_NS, "errorSummary"))
        summary.set("type", "transient" if transient else "fatal")
        summary.set("hasDetail", "true")
        _text(summary, "message", message)
    if j.corral_job_id is not None:  # the corral job it runs as
        info = ET.SubElement(root, _q(UWS_NS, "jobInfo"))
        ET.SubElement(info, "corralJobId").text = str(j.corral_job_id)
    return _document(root)


def results(items: Iterable[Result]) -> bytes:
    return _document(_results(None, items))


def parameters(params: Mapping[str, str], by_reference: frozenset[str] = frozenset()
               ) -> bytes:
    return _document(_parameters(None, params, by_reference))
