"""The dashboard's pages in-process (tests/api/harness.py): who sees what, the parts
that pages refresh (ETag, 304), sign-in redirects, the plots' data and cache, the
static files, and the output tail's refusals."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from corral.web.output import tail
from tests.api.harness import Ctx, peer_client, run

NOBODY = 65534
CONFIG = """
[controller]
private_data = ["jobs"]
[[nodes]]
name = "n1"
"""


def client(ctx: Ctx, uid: int | None) -> httpx.AsyncClient:
    app = create_app(ctx.ctl)
    return peer_client(app, uid)


def job_ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'<tr data-job="(\d+)"', html)}


def test_each_caller_sees_what_their_role_allows(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        theirs = (await ctx.submit(name="nobodys", user="nobody")).json()["id"]
        mine = (await ctx.submit(name="roots")).json()["id"]
        nobody = client(ctx, NOBODY)
        try:
            r = await nobody.get("/ui/")
            assert r.status_code == 200 and job_ids(r.text) == {theirs}, r.text
            assert 'id="whoami">nobody<' in r.text
            r = await nobody.get(f"/ui/jobs/{mine}")
            assert r.status_code == 404 and "job 2: no such job" in r.text
            r = await nobody.get(f"/ui/fragments/jobs/{mine}")
            assert (r.status_code, r.text) == (404, "job 2: no such job")
            r = await nobody.get(f"/ui/jobs/{theirs}")
            assert r.status_code == 200 and 'id="spec"' in r.text
            assert "Output" in r.text  # the owner's page has the output part
            r = await ctx.user.get("/ui/")  # root: an administrator
            assert job_ids(r.text) == {theirs, mine}
            r = await ctx.user.get(f"/ui/jobs/{theirs}")
            assert r.status_code == 200 and "<h2>Output</h2>" not in r.text  # not the owner
            r = await nobody.get("/ui/?history=true")
            assert job_ids(r.text) == {theirs}
            r = await nobody.get("/ui/?state=BOGUS")
            assert r.status_code == 400 and "state: &#39;BOGUS&#39; is not a job state" in r.text
        finally:
            await nobody.aclose()
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_a_part_costs_a_304_until_a_job_changes(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        await ctx.submit(name="first")
        r = await ctx.user.get("/ui/fragments/queue")
        etag = r.headers["etag"]
        assert r.status_code == 200 and "first" in r.text
        for _ in range(3):  # nothing changed: the same version
            r = await ctx.user.get("/ui/fragments/queue", headers={"If-None-Match": etag})
            assert r.status_code == 304 and r.content == b""
        await ctx.submit(name="second")
        r = await ctx.user.get("/ui/fragments/queue", headers={"If-None-Match": etag})
        assert r.status_code == 200 and "second" in r.text and r.headers["etag"] != etag
        r = await ctx.user.get("/ui/fragments/nodes")
        etag = r.headers["etag"]
        r = await ctx.user.get("/ui/fragments/nodes", headers={"If-None-Match": etag})
        assert r.status_code == 304
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_without_credentials_pages_send_to_sign_in(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        tcp = client(ctx, None)
        try:
            r = await tcp.get("/ui/jobs/1?x=1")
            assert r.status_code == 303
            assert r.headers["location"] == "/ui/login?next=%2Fui%2Fjobs%2F1%3Fx%3D1"
            r = await tcp.get("/ui/fragments/queue")
            assert (r.status_code, r.text) == (401, "sign in first: /ui/login")
            r = await tcp.get("/ui/plots/data")
            assert r.status_code == 401
            r = await tcp.get("/ui/login")  # no issuer has a web client: says so
            assert r.status_code == 200 and "web_client_id" in r.text
            r = await tcp.get("/ui/login/callback?code=x&state=y")
            assert r.status_code == 401 and "this browser did not start it" in r.text
            tcp.cookies.set("corral_session", "made-up")
            r = await tcp.get("/ui/")
            assert r.status_code == 303
            r = await tcp.post("/ui/logout")
            assert r.status_code == 303 and r.headers["location"] == "/ui/login?out=true"
        finally:
            await tcp.aclose()
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_plots_data_is_scoped_and_read_once_per_period(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        for who in ("nobody", None):
            r = await ctx.submit(name="p", account=f"acct-{who}", **({"user": who} if who
                                                                     else {}))
            assert r.status_code == 201, r.text
        for _ in range(2):
            got = await ctx.launches("n1")
            for launch in got:
                await ctx.report("n1", launch["job_id"])
        nobody = client(ctx, NOBODY)
        try:
            r = await ctx.user.get("/ui/plots/data?period=hour")
            assert r.status_code == 200, r.text
            everyone = r.json()
            assert {a["account"] for a in everyone["accounts"]} == {"acct-nobody",
                                                                    "acct-None"}
            assert sum(everyone["wait"]["jobs"]) == 2 and everyone["scope"] == "all jobs"
            assert len(everyone["t"]) == len(everyone["utilization_pct"]) == 60
            r = await nobody.get("/ui/plots/data?period=hour")
            own = r.json()
            assert [a["account"] for a in own["accounts"]] == ["acct-nobody"]
            assert sum(own["wait"]["jobs"]) == 1 and own["scope"] == "jobs of nobody"
            # the cluster's utilization for all (each client has its own app, computed
            # a moment apart: the buckets moved by that moment)
            assert sum(own["utilization_pct"]) == pytest.approx(
                sum(everyone["utilization_pct"]), rel=0.02)
            r2 = await nobody.get("/ui/plots/data?period=hour",
                                  headers={"If-None-Match": r.headers["etag"]})
            assert r2.status_code == 304  # the same generation: not computed again
            # a day: utilization and usage per account from the accounting reports
            day = (await ctx.user.get("/ui/plots/data?period=day")).json()
            assert day["utilization_from"] == "reports"
            assert len(day["utilization_t"]) == len(day["utilization_pct"]) in (24, 25)
            assert day["utilization_pct"][-1] > 0, day
            assert {a["account"] for a in day["accounts"]} == {"acct-nobody", "acct-None"}
            own_day = (await nobody.get("/ui/plots/data?period=day")).json()
            assert [a["account"] for a in own_day["accounts"]] == ["acct-nobody"]
            assert sum(own_day["utilization_pct"]) == pytest.approx(
                sum(day["utilization_pct"]), rel=0.02)
            assert everyone["utilization_from"] == "job records"
            r = await nobody.get("/ui/plots/data?period=year")
            assert r.status_code == 400 and "period: 'year' is not one of" in r.text
            r = await nobody.get("/ui/plots?period=day")
            assert r.status_code == 200 and 'data-url="/ui/plots/data?period=day"' in r.text
            # a finished job's page adds its usage record: the charge
            r = await ctx.user.get("/ui/jobs/1")
            assert r.status_code == 200 and "billing-hours" in r.text, r.text[-3000:]
        finally:
            await nobody.aclose()
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_static_files_are_versioned_and_confined(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        page = (await ctx.user.get("/ui/plots")).text
        m = re.search(r'src="(/ui/static/[0-9a-f]+/chart\.umd\.min\.js)"', page)
        assert m is not None, page
        r = await ctx.user.get(m.group(1))
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        assert r.text.startswith("/*!\n * Chart.js v4.6.1")
        assert (await ctx.user.get("/ui/static/old/dashboard.js")).headers[
            "cache-control"] == "no-cache"
        r = await ctx.user.get("/ui/static/x/chart.js-LICENSE.md")
        assert r.status_code == 200 and "MIT" in r.text
        for bad in ("/ui/static/x/..%2F__init__.py", "/ui/static/x/.hidden",
                    "/ui/static/x/nope.js"):
            assert (await ctx.user.get(bad)).status_code == 404, bad
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_the_output_tail_shows_only_the_owners_own_regular_file(tmp_path: Path) -> None:
    me = os.getuid()
    out = tmp_path / "job.out"
    out.write_text("".join(f"line {i}\n" for i in range(500)))
    t = tail(str(out), me, max_lines=10)
    assert t.text == "\n".join(f"line {i}" for i in range(490, 500))
    assert t.note == "the last 10 lines"
    t = tail(str(out), me, max_bytes=20)  # the cut first line is dropped
    assert t.text is not None and t.text.splitlines()[0] == "line 498"
    assert tail(str(out), me + 1).text is None  # not the job's user's file
    link = tmp_path / "link.out"
    link.symlink_to(out)
    assert tail(str(link), me).note == "a symbolic link: not shown"
    assert tail(str(tmp_path), me).note == "not a regular file: not shown"
    assert tail(str(tmp_path / "none"), me).note.startswith("no such file")
