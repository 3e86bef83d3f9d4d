"""Fair-share per site on a real controller with two agents of two sites: account
`heavy` used site a for longer than `light` used site b. Cluster-wide, light would go
first everywhere; with [fairshare.sites.a] and [fairshare.sites.b], light goes first
on a and heavy goes first on b, and `corral sites` shows each site's usage, also
after the controller is killed and started again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, temp_cluster

AGENTS = {"sa": "a", "sb": "b"}  # node -> site (one CPU each)


@pytest.fixture
def two_sites() -> Iterator[Cluster]:
    with temp_cluster("corral-sitefs-", cpus=1, policy="fcfs", scheduler_config="""
[scheduler.weights]
age = 0
fairshare = 1000
""", extra_config="""
[[accounts]]
name = "heavy"

[[accounts]]
name = "light"

[fairshare.sites.a]

[fairshare.sites.b]
""") as c:
        c.corral("node", "drain", "node1", "-r", "no site")  # only the sites' nodes
        for name, site in AGENTS.items():
            c.start_agent(name, cpus=1, args=("--mem-mb", "2000", "--site", site))
        c.wait_idle(*AGENTS)
        yield c


def test_each_site_orders_by_its_own_usage(two_sites: Cluster) -> None:
    c = two_sites
    sub = lambda *a: int(c.corral("submit", "--parsable", "-c", "1", "-t", "5:00",  # noqa: E731
                                  *a).stdout)
    used = [sub("--site", "a", "-A", "heavy", "--wrap", "sleep 3"),
            sub("--site", "b", "-A", "light", "--wrap", "sleep 1")]
    for j in used:
        assert c.wait(j)["state"] == "COMPLETED"
    sites = {s["name"]: s for s in json.loads(c.corral("sites", "--json").stdout)["sites"]}
    assert sites["a"]["usage_cpu_s"]["heavy"] >= 2.5, sites["a"]
    assert "light" not in sites["a"]["usage_cpu_s"] and "heavy" not in sites["b"]["usage_cpu_s"]
    assert sites["a"]["fairshare"]["heavy"] < sites["a"]["fairshare"]["light"] == 1.0
    assert "USAGE_CPU_S" in c.corral("sites").stdout
    # a controller that starts again knows each site's usage (from the usage records)
    c.kill9_controller()
    c.start_controller(timeout_s=60)
    # (the sites are the configuration's: listed before their agents register again)
    again = {s["name"]: s for s in json.loads(c.corral("sites", "--json").stdout)["sites"]}
    assert again["a"]["usage_cpu_s"]["heavy"] == pytest.approx(
        sites["a"]["usage_cpu_s"]["heavy"], rel=0.05), (sites, again)
    assert "heavy" not in again["b"]["usage_cpu_s"], again
    assert again["a"]["fairshare"]["heavy"] < again["a"]["fairshare"]["light"] == 1.0
    deadline = time.monotonic() + 30  # the agents register again
    with c.client() as cl:
        while time.monotonic() < deadline:
            if all(cl.status()["nodes"].get(n) == "IDLE" for n in AGENTS):
                break
            time.sleep(0.1)

    # both sites busy, then two jobs of each account for each site: light first
    go = c.state / "go"  # the blockers run until this file exists (at most 60 s)
    hold = f"for i in $(seq 600); do [ -e {go} ] && break; sleep 0.1; done"
    blockers = [sub("--site", s, "-A", "other", "--wrap", hold) for s in ("a", "b")]
    for j in blockers:
        c.wait_state(j, {"RUNNING"})
    waiting = {(s, a): sub("--site", s, "-A", a, "--wrap", "sleep 2")
               for s in ("a", "b") for a in ("light", "heavy")}
    prio: dict[tuple[str, str], float] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        shown = {k: c.show(j) for k, j in waiting.items()}
        if all((s.get("priority") or 0) > 0 for s in shown.values()):
            prio = {k: float(s["priority"]) for k, s in shown.items()}
            break
        time.sleep(0.1)
    assert prio, shown
    assert prio[("a", "light")] > prio[("a", "heavy")], prio  # heavy used a
    assert prio[("b", "heavy")] > prio[("b", "light")], prio  # heavy never used b

    go.touch()  # the blockers end: each site starts its best-placed job first
    done = {k: c.wait(j, timeout_s=60) for k, j in waiting.items()}
    assert all(d["state"] == "COMPLETED" for d in done.values()), done
    # one CPU per site: each site ran its two one after the other, light first on a
    assert done[("a", "light")]["t_start"] < done[("a", "heavy")]["t_start"], done
    assert done[("b", "heavy")]["t_start"] < done[("b", "light")]["t_start"], done
