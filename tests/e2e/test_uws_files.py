"""UWS 1.1 file-valued parameters, one parameter set at a time, and a public base URL
(docs/uws.md), against a real controller and agent over TCP with real tokens: a job
created with multipart/form-data, its file run by the job, parameters changed by PUT
and POST to /{jobs}/{job-id}/parameters/{name} while PENDING, and every link of the
documents on the configured `public_url` (here another name of the same host) while
the requests go to 127.0.0.1. Documents are validated against the UWS schema."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import requests
import xmlschema
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job_list

from tests.e2e.oidc_site import oidc_site
from tests.e2e.test_uws import SCHEMA_DIR, UWS, XLINK, text_of, valid, wait_phase
from tests.oidc import Provider, free_port

ALICE = "crl-uwsf-a"
COMMAND = ("wc -c < {table} > size.txt; cat {table} > copy.txt; "
           "printf '%s\\n' {label} > label.txt")
TIMEOUT_S = 60
MAX_FILE_BYTES = 4096


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_DIR / "UWS.xsd"), locations=[
        ("http://www.w3.org/1999/xlink", str(SCHEMA_DIR / "xlink.xsd"))])


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="corral-uwsf-work-"))
    work.chmod(0o1777)
    port = free_port()
    public = f"http://localhost:{port}/uws"  # what a proxy in front would publish
    try:
        with oidc_site("corral-uwsf-", (ALICE,), lambda root, _port: Provider(root, {ALICE: {}}),
                       cluster_key="uws-files-cluster-key", port=port, extra_config=f"""
[sandboxes]
max_file_bytes = {MAX_FILE_BYTES}

[uws]
enabled = true
path = "/uws"
public_url = "{public}"
command = {json.dumps(COMMAND)}
working_dir = "{work}"
results = ["size.txt", "copy.txt", "label.txt"]
max_wait_s = 20

[uws.parameters.table]
file = true
[uws.parameters.label]
default = "none"
pattern = "[a-z]{{1,20}}"
""") as s:
            token = s.provider.device_login(ALICE)["access_token"]
            yield {"cluster": s.cluster, "url": f"{s.url}/uws", "public": public,
                   "token": token}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def client(site: dict[str, Any]) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {site['token']}"},
                        timeout=TIMEOUT_S)


def local(site: dict[str, Any], public_href: str) -> str:
    """A link of the documents, as the test reaches it (the request's own host)."""
    assert public_href.startswith(site["public"] + "/"), public_href
    return site["url"] + public_href[len(site["public"]):]


def create(h: httpx.Client, site: dict[str, Any], files: dict[str, Any],
           **fields: str) -> str:
    r = h.post(site["url"], data=fields, files=files)
    assert r.status_code == 303, r.text
    return local(site, r.headers["location"])


def params_of(doc: ET.Element) -> dict[str, tuple[str | None, str | None]]:
    return {p.get("id") or "": (p.text, p.get("byReference"))
            for p in doc.iter(f"{UWS}parameter")}


def test_a_file_parameter_runs_with_the_job_and_links_are_public(
        site: dict[str, Any], schema: xmlschema.XMLSchema) -> None:
    table = b"ra,dec\n10.68,41.27\n"
    with client(site) as h:
        job = create(h, site, {"table": ("cat.csv", table, "text/csv")}, label="first")
        jid = job.rsplit("/", 1)[1]
        doc = valid(schema, h.get(job))
        ref = f"{site['public']}/{jid}/parameters/table"
        assert params_of(doc) == {"table": (ref, "true"), "label": ("first", None)}
        assert h.get(local(site, ref)).content == table  # the file, back
        # one parameter at a time while PENDING: PUT (the body is the value) and POST
        r = h.put(f"{job}/parameters/label", content=b"second")
        assert r.status_code == 303 and local(site, r.headers["location"]) == job, r.text
        assert h.get(f"{job}/parameters/LABEL").text == "second"
        r = h.put(f"{job}/parameters/table", content=b"x,y\n1,2\n3,4\n")
        assert r.status_code == 303, r.text
        assert h.get(f"{job}/parameters/table").content == b"x,y\n1,2\n3,4\n"
        table = b"ra,dec\n1,2\n3,4\n5,6\n"
        r = h.post(f"{job}/parameters/table", files={"table": ("new.csv", table)})
        assert r.status_code == 303, r.text
        r = h.post(f"{job}/parameters/label", data={"label": "third"})
        assert r.status_code == 303, r.text
        doc = valid(schema, h.get(f"{job}/parameters"))
        assert params_of(doc) == {"table": (ref, "true"), "label": ("third", None)}
        # several at once, as a multipart form to the parameters list
        r = h.post(f"{job}/parameters", data={"label": "fourth"},
                   files={"table": ("t.csv", table)})
        assert r.status_code == 303, r.text
        # the job list links to the public URL
        listing = valid(schema, h.get(site["url"]))
        hrefs = {j.get("id"): j.get(f"{XLINK}href") for j in listing}
        assert hrefs[jid] == f"{site['public']}/{jid}", hrefs
        # run: the job reads the uploaded file on its node
        r = h.post(f"{job}/phase", data={"PHASE": "RUN"})
        assert r.status_code == 303 and local(site, r.headers["location"]) == job
        doc = wait_phase(h, schema, job, {"COMPLETED", "ERROR", "ABORTED"})
        assert text_of(doc, "phase") == "COMPLETED", ET.tostring(doc)
        links = {x.get("id"): x.get(f"{XLINK}href")
                 for x in valid(schema, h.get(f"{job}/results"))}
        assert all(v and v.startswith(f"{site['public']}/{jid}/results/")
                   for v in links.values()), links
        assert h.get(local(site, links["copy.txt"])).content == table
        assert h.get(local(site, links["size.txt"])).text.strip() == str(len(table))
        assert h.get(local(site, links["label.txt"])).text == "fourth\n"
        # not PENDING any more: its parameters stay
        r = h.put(f"{job}/parameters/label", content=b"late")
        assert r.status_code == 409 and "only while it is PENDING" in r.text, r.text
        r = h.delete(job)
        assert r.status_code == 303 and r.headers["location"] == site["public"]


def test_pyvo_follows_the_public_links(site: dict[str, Any],
                                       schema: xmlschema.XMLSchema) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {site['token']}"
    r = session.post(site["url"], data={"label": "pyvo"},
                     files={"table": ("t.csv", b"a\nb\n")}, allow_redirects=False,
                     timeout=TIMEOUT_S)
    assert r.status_code == 303, r.text
    job = AsyncTAPJob(r.headers["location"], session=session)  # the public URL itself
    assert job.url.startswith(site["public"] + "/")
    assert job.phase == "PENDING"
    job.run()
    job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=TIMEOUT_S)
    job.raise_if_error()
    assert all(u.startswith(site["public"] + "/") for u in job.result_uris)
    got = session.get(f"{job.url}/results/copy.txt", timeout=TIMEOUT_S)
    assert got.content == b"a\nb\n"
    listing = session.get(site["url"], timeout=TIMEOUT_S)
    schema.validate(listing.text)
    assert job.job_id in {j.jobid for j in parse_job_list(io.BytesIO(listing.content))}
    job.delete()


MULTIPART_BAD = {"content-type": "multipart/form-data; boundary=xyz"}


def test_bad_file_parameters_are_one_line_4xx(site: dict[str, Any]) -> None:
    with client(site) as h:
        url = site["url"]
        job = create(h, site, {"table": ("t.csv", b"1\n")})
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            ("POST", "", {"data": {"label": "x"}}, 400, "'table': required"),
            ("POST", "", {"data": {"table": "/etc/passwd"}}, 400,
             "'table': '/etc/passwd' is not a file"),
            ("POST", "", {"files": {"table": ("t", b"1"), "label": ("l", b"x")}}, 400,
             "'label': not a file parameter"),
            ("POST", "", {"files": {"colour": ("c", b"red")}}, 400,
             "'colour': not a parameter of this service"),
            ("POST", "", {"files": {"table": ("t", b"x" * (MAX_FILE_BYTES + 1))}}, 400,
             f"over {MAX_FILE_BYTES} bytes"),
            ("POST", "", {"files": {"PHASE": ("p", b"RUN")}}, 400,
             "PHASE: a control parameter, not a file"),
            ("POST", "", {"content": b"--xyz\r\nContent-Type: text/plain\r\n\r\nabc\r\n"
                          b"--xyz--\r\n", "headers": MULTIPART_BAD}, 400,
             'body: not a multipart/form-data form: The Content-Disposition header field '
             '"name" must be provided.'),
            ("POST", "", {"content": b"abc",
                          "headers": {"content-type": "multipart/form-data"}}, 400,
             "Missing boundary"),
            ("PUT", "/{job}/parameters/colour", {"content": b"red"}, 404,
             "'colour': not a parameter of this service"),
            ("PUT", "/{job}/parameters/label", {"content": b"UPPER"}, 400,
             "'label': 'UPPER' does not match"),
            ("PUT", "/{job}/parameters/label", {"content": b"\xff"}, 400,
             "label: the body is not UTF-8"),
            ("PUT", "/{job}/parameters/table", {"content": b"x" * (MAX_FILE_BYTES + 1)},
             400, f"table: {MAX_FILE_BYTES + 1} bytes, over the limit of {MAX_FILE_BYTES}"),
            ("POST", "/{job}/parameters/label", {"data": {"table": "x"}}, 400,
             "'table': this resource sets parameter 'label' only"),
            ("POST", "/{job}/parameters/label", {"data": {}}, 400, "label: missing"),
            ("POST", "/{job}/phase", {"files": {"PHASE": ("p", b"RUN")}}, 400,
             "a file is not taken here"),
            ("GET", "/{job}/parameters/colour", {}, 404, "no parameter 'colour'"),
        ]
        jid = job.rsplit("/", 1)[1]
        for method, path, kw, status, words in cases:
            r = h.request(method, url + path.replace("{job}", jid), **kw)
            assert r.status_code == status, (method, path, r.status_code, r.text)
            assert words in r.text, (method, path, r.text)
            assert r.text.count("\n") == 1 and "Traceback" not in r.text, r.text
        assert h.get(f"{job}/parameters/table").content == b"1\n"  # unharmed
        assert h.delete(job).status_code == 303
