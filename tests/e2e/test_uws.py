"""The IVOA UWS 1.1 job list (docs/uws.md) against a real controller and agent, over
TCP with real tokens (tests/oidc.py): raw HTTP calls following the UWS document, and
pyvo's own UWS client (its AsyncTAPJob and pyvo.io.uws parsing). Every UWS document
answered is validated against the UWS schema (tests/data/uws/)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import requests
import xmlschema
from pyvo.dal import DALQueryError
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job_list

from tests.conftest import REPO
from tests.e2e.cluster import Cluster
from tests.e2e.oidc_site import oidc_site
from tests.oidc import Provider

ALICE, BOB = "crl-uws-a", "crl-uws-b"
SCHEMA_DIR = REPO / "tests" / "data" / "uws"
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
MAX_WAIT_S = 20
COMMAND = "printf '%s\\n' {message} > greeting.txt; echo started; sleep {seconds}; exit {code}"
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_DIR / "UWS.xsd"), locations=[
        ("http://www.w3.org/1999/xlink", str(SCHEMA_DIR / "xlink.xsd"))])


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="corral-uws-work-"))
    work.chmod(0o1777)
    try:
        with oidc_site("corral-uws-", (ALICE, BOB),
                       lambda root, _port: Provider(root, {ALICE: {}, BOB: {}}),
                       cluster_key="uws-test-cluster-key",
                       controller_config='private_data = ["jobs"]\n', extra_config=f"""
[uws]
enabled = true
path = "/uws"
command = {json.dumps(COMMAND)}
working_dir = "{work}"
results = ["greeting.txt"]
max_wait_s = {MAX_WAIT_S}
max_execution_duration_s = 3600

[uws.parameters.message]
default = "hello"
max_length = 200
[uws.parameters.seconds]
default = "0"
pattern = "[0-9]{{1,3}}"
[uws.parameters.code]
default = "0"
pattern = "[0-9]{{1,3}}"
""") as s:
            tokens = {u: s.provider.device_login(u)["access_token"] for u in (ALICE, BOB)}
            yield {"cluster": s.cluster, "url": f"{s.url}/uws", "tokens": tokens, "work": work}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def client(site: dict[str, Any], user: str = ALICE) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {site['tokens'][user]}"},
                        timeout=TIMEOUT_S)


def valid(schema: xmlschema.XMLSchema, r: httpx.Response | requests.Response) -> ET.Element:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml"), r.headers
    schema.validate(r.text)
    return ET.fromstring(r.content)


def text_of(doc: ET.Element, name: str) -> str | None:
    el = doc.find(f"{UWS}{name}")
    assert el is not None, name
    return el.text


def create(h: httpx.Client, url: str, **fields: str) -> str:
    r = h.post(url, data=fields)
    assert r.status_code == 303, r.text
    loc = r.headers["location"]
    assert loc.startswith(url + "/") and loc[len(url) + 1:].isdigit(), loc
    return loc


def wait_phase(h: httpx.Client, schema: xmlschema.XMLSchema, job: str, phases: set[str],
               timeout_s: float = TIMEOUT_S) -> ET.Element:
    """Blocking GETs (?WAIT, ?PHASE) until the job is in one of `phases`."""
    deadline = time.monotonic() + timeout_s
    doc = valid(schema, h.get(job))
    while text_of(doc, "phase") not in phases:
        assert time.monotonic() < deadline, ET.tostring(doc)
        doc = valid(schema, h.get(job, params={"WAIT": "10", "PHASE": text_of(doc, "phase")}))
    return doc


def test_raw_http_create_run_wait_results_delete(site: dict[str, Any],
                                                 schema: xmlschema.XMLSchema) -> None:
    url = site["url"]
    with client(site) as h:
        job = create(h, url, message="hello from UWS", RUNID="run-7", seconds="1")
        doc = valid(schema, h.get(job))
        assert doc.get("version") == "1.1"
        assert text_of(doc, "phase") == "PENDING"
        assert text_of(doc, "ownerId") == ALICE and text_of(doc, "runId") == "run-7"
        assert text_of(doc, "executionDuration") == "600"  # the site's default
        params = {p.get("id"): p.text for p in doc.iter(f"{UWS}parameter")}
        assert params == {"message": "hello from UWS", "seconds": "1", "code": "0"}
        assert h.get(f"{job}/phase").text == "PENDING"
        assert h.get(f"{job}/owner").text == ALICE
        quote = h.get(f"{job}/quote").text  # PENDING: when it would end if run now
        assert quote.endswith("Z") and dt.datetime.fromisoformat(quote).timestamp() > 0
        # parameters change while PENDING (names are case-insensitive)
        r = h.post(f"{job}/parameters", data={"MESSAGE": "changed while pending"})
        assert r.status_code == 303 and r.headers["location"] == job
        doc = valid(schema, h.get(f"{job}/parameters"))
        assert {p.get("id"): p.text for p in doc}["message"] == "changed while pending"
        # executionduration and destruction: 303 back to the job, the granted value
        r = h.post(f"{job}/executionduration", data={"EXECUTIONDURATION": "120"})
        assert r.status_code == 303 and r.headers["location"] == job
        assert h.get(f"{job}/executionduration").text == "120"
        r = h.post(f"{job}/executionduration", data={"EXECUTIONDURATION": "999999"})
        assert h.get(f"{job}/executionduration").text == "3600"  # capped by the site
        h.post(f"{job}/executionduration", data={"EXECUTIONDURATION": "120"})
        when = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        r = h.post(f"{job}/destruction",
                   data={"DESTRUCTION": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        assert r.status_code == 303
        got = dt.datetime.fromisoformat(h.get(f"{job}/destruction").text)
        assert abs((got - when).total_seconds()) < 1
        # run, then wait for each phase change with blocking GETs
        r = h.post(f"{job}/phase", data={"PHASE": "RUN"})
        assert r.status_code == 303 and r.headers["location"] == job
        doc = wait_phase(h, schema, job, {"COMPLETED", "ERROR", "ABORTED"})
        assert text_of(doc, "phase") == "COMPLETED", ET.tostring(doc)
        assert text_of(doc, "executionDuration") == "120"
        assert text_of(doc, "startTime") and text_of(doc, "endTime")
        assert doc.find(f"{UWS}errorSummary") is None
        # results: the file the command wrote and its output, as links
        res = valid(schema, h.get(f"{job}/results"))
        links = {r.get("id"): r.get(f"{XLINK}href") for r in res}
        assert set(links) == {"greeting.txt", "stdout"}
        assert h.get(links["greeting.txt"]).text == "changed while pending\n"
        assert h.get(links["stdout"]).text == "started\n"
        assert h.get(f"{job}/results/nothing").status_code == 404
        # the job list: the job, its phase; the filters
        listing = valid(schema, h.get(url))
        ids = [j.get("id") for j in listing]
        assert job.rsplit("/", 1)[1] in ids
        done = valid(schema, h.get(url, params={"PHASE": "COMPLETED"}))
        assert all(text_of(j, "phase") == "COMPLETED" for j in done) and len(done) >= 1
        assert len(valid(schema, h.get(url, params={"PHASE": "EXECUTING"}))) == 0
        second = create(h, url, message="second")
        newest = valid(schema, h.get(url, params={"LAST": "1"}))
        assert [j.get("id") for j in newest] == [second.rsplit("/", 1)[1]]
        first_t = text_of(valid(schema, h.get(job)), "creationTime")
        after = valid(schema, h.get(url, params={"AFTER": first_t}))
        assert second.rsplit("/", 1)[1] in [j.get("id") for j in after]
        assert job.rsplit("/", 1)[1] not in [j.get("id") for j in after]
        either = valid(schema, h.get(url, params=[("PHASE", "PENDING"), ("PHASE", "COMPLETED")]))
        assert {job.rsplit("/", 1)[1], second.rsplit("/", 1)[1]} <= {j.get("id") for j in either}
        # delete: 303 to the list; gone
        for j in (job, second):
            r = h.delete(j)
            assert r.status_code == 303 and r.headers["location"] == url
            assert h.get(j).status_code == 404
        assert job.rsplit("/", 1)[1] not in [j.get("id") for j in valid(schema, h.get(url))]


def test_abort_error_and_another_users_job(site: dict[str, Any],
                                           schema: xmlschema.XMLSchema) -> None:
    url = site["url"]
    with client(site) as h, client(site, BOB) as bob:
        long = create(h, url, seconds="300", PHASE="RUN")  # PHASE=RUN: runs at once
        doc = wait_phase(h, schema, long, {"EXECUTING"})
        # a blocking GET in EXECUTING returns at the abort, well before its WAIT
        assert h.post(f"{long}/phase", data={"PHASE": "ABORT"}).status_code == 303
        t0 = time.monotonic()
        doc = valid(schema, h.get(long, params={"WAIT": "15", "PHASE": "EXECUTING"}))
        if text_of(doc, "phase") == "EXECUTING":  # (the abort still under way)
            doc = wait_phase(h, schema, long, {"ABORTED"})
        assert time.monotonic() - t0 < 14
        assert text_of(doc, "phase") == "ABORTED"
        summary = doc.find(f"{UWS}errorSummary")
        assert summary is not None and "aborted" in (text_of(summary, "message") or "")
        # a job that fails: ERROR, its error summary, the error document
        bad = create(h, url, code="3", message="failing", PHASE="RUN")
        doc = wait_phase(h, schema, bad, {"COMPLETED", "ERROR", "ABORTED"})
        assert text_of(doc, "phase") == "ERROR"
        summary = doc.find(f"{UWS}errorSummary")
        assert summary is not None and summary.get("type") == "fatal"
        assert text_of(summary, "message") == "the job failed: exit code 3"
        err = h.get(f"{bad}/error")
        assert err.status_code == 200 and "exit code 3" in err.text and "started" in err.text
        # aborted while PENDING: it never runs
        idle = create(h, url)
        h.post(f"{idle}/phase", data={"PHASE": "ABORT"})
        assert h.get(f"{idle}/phase").text == "ABORTED"
        r = h.post(f"{idle}/phase", data={"PHASE": "RUN"})
        assert r.status_code == 409 and "aborted" in r.text
        # another user: not in their list, refused (403, one line)
        assert long.rsplit("/", 1)[1] not in [j.get("id") for j in valid(schema, bob.get(url))]
        for r in (bob.get(long), bob.delete(long),
                  bob.post(f"{long}/phase", data={"PHASE": "RUN"})):
            assert r.status_code == 403, r.text
            assert r.text.count("\n") == 1 and "Traceback" not in r.text
        for j in (long, bad, idle):
            assert h.delete(j).status_code == 303


def test_destruction_archives_the_job(site: dict[str, Any],
                                      schema: xmlschema.XMLSchema) -> None:
    url = site["url"]
    with client(site) as h:
        job = create(h, url, message="short-lived", PHASE="RUN")
        wait_phase(h, schema, job, {"COMPLETED"})
        assert len(valid(schema, h.get(f"{job}/results"))) == 2
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        h.post(f"{job}/destruction", data={"DESTRUCTION": soon.isoformat()})
        deadline = time.monotonic() + 30
        while h.get(f"{job}/phase").text != "ARCHIVED":
            assert time.monotonic() < deadline, "not archived at its destruction time"
            time.sleep(0.5)
        doc = valid(schema, h.get(job))
        assert len(doc.find(f"{UWS}results") or []) == 0  # its results are gone
        jid = job.rsplit("/", 1)[1]
        assert jid not in [j.get("id") for j in valid(schema, h.get(url))]  # hidden...
        archived = valid(schema, h.get(url, params={"PHASE": "ARCHIVED"}))
        assert jid in [j.get("id") for j in archived]  # ...unless asked for
        assert h.delete(job).status_code == 303


def test_pyvo_drives_uws_jobs(site: dict[str, Any], schema: xmlschema.XMLSchema) -> None:
    url = site["url"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {site['tokens'][ALICE]}"
    with client(site) as h:
        loc = create(h, url, message="from pyvo", seconds="1")
    job = AsyncTAPJob(loc, session=session)
    assert job.phase == "PENDING" and job.owner == ALICE and job.uws_version == "1.1"
    job.execution_duration = 300
    assert job.execution_duration.sec == 300
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    job.destruction = when
    assert abs((job.destruction.datetime - when).total_seconds()) < 1
    assert job.quote is not None
    job.run()
    job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=TIMEOUT_S)
    assert job.phase == "COMPLETED"
    job.raise_if_error()
    uris = sorted(job.result_uris)
    assert uris == [f"{loc}/results/greeting.txt", f"{loc}/results/stdout"]
    got = session.get(f"{loc}/results/greeting.txt", timeout=TIMEOUT_S)
    assert got.text == "from pyvo\n"
    # pyvo's job-list parsing
    r = session.get(url, timeout=TIMEOUT_S)
    schema.validate(r.text)
    jobs = {j.jobid: j for j in parse_job_list(io.BytesIO(r.content))}
    assert jobs[job.job_id].phase == "COMPLETED" and jobs[job.job_id].ownerid == ALICE
    # abort through pyvo: ABORTED, and raise_if_error says why
    with client(site) as h:
        other = AsyncTAPJob(create(h, url, seconds="300"), session=session)
        other.run()
        # (pyvo's wait() blocks in the phase it is in before it looks: EXECUTING
        # is waited for here, ABORTED is not active for it)
        wait_phase(h, schema, other.url, {"EXECUTING"})
    other.abort()
    deadline = time.monotonic() + TIMEOUT_S
    while other.phase != "ABORTED":
        assert time.monotonic() < deadline, other.phase
        time.sleep(0.2)
    with pytest.raises(DALQueryError, match="aborted"):
        other.raise_if_error()
    for j in (job, other):
        j.delete()
    with client(site) as h:
        assert h.get(loc).status_code == 404


FORM = {"content-type": "application/x-www-form-urlencoded"}
HOSTILE: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (method, path under the job list ("{job}": a job's), request, status, words)
    ("GET", "/{job}", {"params": {"WAIT": "9" * 40}}, 400, "WAIT"),
    ("GET", "/{job}", {"params": {"WAIT": "2147483648"}}, 400, "over the maximum"),
    ("GET", "/{job}", {"params": {"WAIT": "-2"}}, 400, "below the minimum"),
    ("GET", "/{job}", {"params": {"WAIT": "soon"}}, 400, "not an integer"),
    ("GET", "/{job}", {"params": {"WAIT": "5", "PHASE": "SLEEPING"}}, 400, "not a UWS phase"),
    ("GET", "", {"params": {"PHASE": "BOGUS"}}, 400, "not a UWS phase"),
    ("GET", "", {"params": {"LAST": "0"}}, 400, "LAST"),
    ("GET", "", {"params": {"LAST": "1" * 30}}, 400, "LAST"),
    ("GET", "", {"params": {"AFTER": "yesterday"}}, 400, "AFTER"),
    ("GET", "", {"params": {"COLOUR": "red"}}, 400, "not a filter"),
    ("POST", "/{job}/phase", {"data": {"PHASE": "EXPLODE"}}, 400, "not RUN or ABORT"),
    ("POST", "/{job}/phase", {"data": {}}, 400, "PHASE: missing"),
    ("POST", "", {"data": {"colour": "red"}}, 400, "not a parameter of this service"),
    ("POST", "", {"data": {"message": "a\x00b"}}, 400, "U+0000"),
    ("POST", "", {"data": {"mes\x00sage": "x"}}, 400, "U+0000"),
    ("POST", "", {"data": {"message": "x" * 201}}, 400, "over the limit of 200"),
    ("POST", "", {"data": {"seconds": "1; rm -rf /"}}, 400, "does not match"),
    ("POST", "", {"data": {"PHASE": "ABORT"}}, 400, "cannot create a job"),
    ("POST", "", {"data": {"EXECUTIONDURATION": "-5"}}, 400, "below the minimum"),
    ("POST", "", {"data": {"DESTRUCTION": "the end of days"}}, 400, "ISO 8601"),
    ("POST", "", {"content": "message=a&MESSAGE=b", "headers": FORM}, 400, "given twice"),
    ("POST", "", {"content": b"message=\xff\xfe", "headers": FORM}, 400, "not UTF-8"),
    ("POST", "", {"content": "message=a%00b", "headers": FORM}, 400, "U+0000"),
    ("POST", "", {"content": "message=" + "x" * 300_000, "headers": FORM}, 400,
     "over the limit of 262144"),
    ("POST", "", {"content": b"{}", "headers": {"content-type": "application/json"}},
     400, "application/x-www-form-urlencoded"),
    ("POST", "/{job}/executionduration", {"data": {"EXECUTIONDURATION": "1e9"}}, 400,
     "not an integer"),
    ("POST", "/{job}", {"data": {"ACTION": "EXPLODE"}}, 400, "ACTION=DELETE"),
    ("GET", "/12x", {}, 404, "no such UWS job"),
    ("GET", "/99999999999", {}, 404, "no such UWS job"),
]


def test_hostile_inputs_are_one_line_4xx(site: dict[str, Any]) -> None:
    url = site["url"]
    with client(site) as h:
        job = create(h, url)
        jid = job.rsplit("/", 1)[1]
        for method, path, kw, status, words in HOSTILE:
            r = h.request(method, url + path.replace("{job}", jid), **kw)
            assert r.status_code == status, (method, path, kw, r.status_code, r.text)
            assert words in r.text, (method, path, r.text)
            assert r.text.count("\n") == 1 and "Traceback" not in r.text, r.text
        # no token: refused before anything
        r = httpx.get(url, timeout=TIMEOUT_S)
        assert r.status_code == 401
        assert h.get(job).status_code == 200  # the job is unharmed
        assert h.delete(job).status_code == 303
    # the audit trail: who asked, on which UWS job, the refusal's own words
    cluster: Cluster = site["cluster"]
    entries = json.loads(cluster.corral("audit", "--json", "--user", ALICE).stdout)["entries"]
    refused = [e for e in entries if e["action"] == "uws_create" and e["status"] == 400]
    assert any("'colour': not a parameter of this service" in e["result"] for e in refused)
    assert any(e["action"] == "uws_delete" and e["target"] == f"UWS job {jid}"
               and e["result"] == "ok" and e["origin"].startswith("127.0.0.1")
               for e in entries), entries[-3:]
