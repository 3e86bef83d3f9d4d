"""The web dashboard in a real browser: Debian's chromium driven by Playwright, against
a real controller and agent, signing in through a real OpenID provider
(tests/oidc.py) with the authorization code flow and PKCE.

Two users run a small workload; under `private_data = ["jobs"]` the one who signs in
sees only their own jobs, opens one and sees its timeline, explanation and output,
watches a new job appear without reloading, and the plots draw their data.
Screenshots of the main pages go to build/dashboard-screenshots/ (ignored by git;
CORRAL_SCREENSHOTS_DIR overrides it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.cluster import Cluster
from tests.e2e.oidc_site import oidc_site
from tests.e2e.users import UnixUser
from tests.oidc import Provider

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
WEB_CLIENT = "corral-web"
ALICE, BOB = "crl-dash-a", "crl-dash-b"
SHOTS = Path(os.environ.get("CORRAL_SCREENSHOTS_DIR", REPO / "build" / "dashboard-screenshots"))
TIMEOUT_MS = 20_000
ACCESS_TOKEN_TTL_S = 8


class WebProvider(Provider):
    """The test provider with a public client for the dashboard's sign-in."""

    def __init__(self, root: Path, accounts: dict[str, dict[str, Any]], redirect_uri: str
                 ) -> None:
        # access tokens short-lived: the dashboard renews them with the refresh token
        # (at half their life) several times during the test
        super().__init__(root, accounts, access_token_ttl_s=ACCESS_TOKEN_TTL_S)
        self.redirect_uri = redirect_uri

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["clients"].append({
            "client_id": WEB_CLIENT, "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [self.redirect_uri]})
        return cfg


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (scripts/install-test-deps "
                    f"installs Debian's chromium)")
    with oidc_site("corral-web-", (ALICE, BOB), lambda root, port: WebProvider(
            root, {ALICE: {}, BOB: {}}, f"http://127.0.0.1:{port}/ui/login/callback"),
            cluster_key="dashboard-test-cluster-key",
            controller_config='private_data = ["jobs"]\n',
            extra_config="\n[web]\nrefresh_s = 1\n",
            client_id=None, issuer_extra=f'web_client_id = "{WEB_CLIENT}"\n') as s:
        yield {"cluster": s.cluster, "url": s.url, "alice": s.users[ALICE],
               "bob": s.users[BOB]}


def submit(cluster: Cluster, user: UnixUser, name: str, command: str, cpus: int = 1) -> int:
    out = cluster.corral("submit", "--parsable", "--user", user.name, "-J", name, "-c", str(cpus),
                         "-A", f"acct-{user.name[-1]}", "-D", str(user.home),
                         "-o", "%x.out", "--wrap", command).stdout
    return int(out.strip())


def session_cookie(page: Any, url: str) -> str:
    found = [c["value"] for c in page.context.cookies(f"{url}/ui/")
             if c["name"] == "corral_session"]
    assert len(found) == 1, found
    return str(found[0])


def test_a_user_signs_in_and_sees_their_jobs_timeline_and_plots(site: dict[str, Any]
                                                                 ) -> None:
    from playwright.sync_api import expect, sync_playwright

    cluster: Cluster = site["cluster"]
    alice: UnixUser = site["alice"]
    bob: UnixUser = site["bob"]
    url: str = site["url"]
    # the node's 2 CPUs for the first: the second waits a while for them
    mine = [submit(cluster, alice, "a-hello", "echo hello-from-alice; sleep 2", cpus=2),
            submit(cluster, alice, "a-fails", "echo failing; exit 3")]
    theirs = [submit(cluster, bob, "b-secret", "echo bob; sleep 1")]
    for job_id in mine + theirs:
        assert cluster.wait(job_id)["state"] in ("COMPLETED", "FAILED")
    SHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(TIMEOUT_MS)

            # no session: the dashboard sends the browser to the provider's sign-in
            page.goto(f"{url}/ui/")
            page.wait_for_url(lambda u: "/interaction/" in u)
            page.fill("input[name=login]", ALICE)
            page.fill("input[name=password]", "anything")
            page.click("button[type=submit]")
            if "/interaction/" in page.url:  # the provider's consent page
                page.click("button[type=submit]")
            page.wait_for_url(f"{url}/ui/")
            expect(page.locator("#whoami")).to_have_text(ALICE)
            session = session_cookie(page, url)
            t_signed_in = time.monotonic()

            # the queue: her jobs only (private_data hides bob's)
            page.goto(f"{url}/ui/?history=true")
            rows = page.locator("#queue tbody tr[data-job]")
            expect(rows).to_have_count(len(mine))
            assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.user)")) == {ALICE}
            assert "b-secret" not in page.content()
            page.screenshot(path=str(SHOTS / "queue-history.png"), full_page=True)

            # the live queue refreshes itself: a job submitted now appears unreloaded
            page.goto(f"{url}/ui/")
            late = submit(cluster, alice, "a-late", "sleep 30")
            expect(page.locator(f"#queue tr[data-job='{late}']")).to_be_visible()
            page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)
            cluster.corral("cancel", str(late))

            # a job's page: timeline from its event log, explanation, usage, output
            page.goto(f"{url}/ui/?history=true")
            page.click(f"#queue a[href='/ui/jobs/{mine[0]}']")
            page.wait_for_url(f"{url}/ui/jobs/{mine[0]}")
            spans = page.locator("#timeline div")
            assert spans.evaluate_all("ds => ds.map(d => d.className)") == \
                ["PENDING", "RUNNING", "COMPLETED"]
            assert page.locator("#events tbody tr").count() >= 3
            expect(page.locator("#explain li").first).to_contain_text("COMPLETED")
            expect(page.locator("#usage")).to_contain_text("CPU-hours allocated")
            expect(page.locator("pre.output")).to_contain_text("hello-from-alice")
            page.screenshot(path=str(SHOTS / "job.png"), full_page=True)

            # bob's job does not exist for her
            page.goto(f"{url}/ui/jobs/{theirs[0]}")
            expect(page.locator("#error")).to_contain_text("no such job")

            page.goto(f"{url}/ui/nodes")
            expect(page.locator("#nodes")).to_contain_text("node1")
            page.screenshot(path=str(SHOTS / "nodes.png"), full_page=True)

            # the plots draw their data: her jobs' waits and account, the cluster's load
            page.goto(f"{url}/ui/plots?period=hour")
            page.wait_for_function(
                "() => ['chart-utilization', 'chart-queue', 'chart-wait', 'chart-accounts']"
                ".every(id => Chart.getChart(id))")
            data = page.evaluate("""() => Object.fromEntries(
                ['chart-utilization', 'chart-queue', 'chart-wait', 'chart-accounts'].map(
                  id => { const c = Chart.getChart(id);
                          return [id, {labels: c.data.labels,
                                       values: c.data.datasets[0].data}]; }))""")
            assert max(data["chart-utilization"]["values"]) > 0
            assert max(data["chart-queue"]["values"]) > 0
            assert sum(data["chart-wait"]["values"]) >= len(mine)
            assert data["chart-accounts"]["labels"] == [f"acct-{ALICE[-1]}"]
            assert data["chart-accounts"]["values"][0] > 0
            painted = page.evaluate("""() => {
                const c = document.getElementById('chart-utilization');
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
                return n; }""")
            assert painted > 1000, painted
            page.screenshot(path=str(SHOTS / "plots.png"), full_page=True)

            # a day: utilization and usage per account from the accounting reports
            page.goto(f"{url}/ui/plots?period=day")
            expect(page.locator("#utilization-from")).to_have_text("(from the reports)")
            day = page.evaluate("""() => ['chart-utilization', 'chart-accounts'].map(
                id => Chart.getChart(id).data)""")
            assert max(day[0]["datasets"][0]["data"]) > 0
            assert day[1]["labels"] == [f"acct-{ALICE[-1]}"]
            page.screenshot(path=str(SHOTS / "plots-day.png"), full_page=True)

            # the same session all along (no second sign-in) though the first access
            # token expired meanwhile (the live queue polling): renewed with the
            # refresh token
            page.goto(f"{url}/ui/")
            left_s = ACCESS_TOKEN_TTL_S + 1 - (time.monotonic() - t_signed_in)
            if left_s > 0:
                page.wait_for_timeout(left_s * 1000)
            page.goto(f"{url}/ui/")
            expect(page.locator("#whoami")).to_have_text(ALICE)
            assert session_cookie(page, url) == session

            # signing out ends the session
            page.goto(f"{url}/ui/")
            page.click("header button[type=submit]")
            page.wait_for_url(lambda u: "/ui/login" in u)
            expect(page.locator("h1")).to_have_text("Signed out")
            cookies = page.context.cookies(f"{url}/ui/")
            assert not [c for c in cookies if c["name"] == "corral_session"], cookies
        finally:
            browser.close()
    deadline = time.monotonic() + 30
    while cluster.show(late)["state"] not in ("CANCELLED",) and time.monotonic() < deadline:
        time.sleep(0.2)
