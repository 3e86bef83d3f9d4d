"""sreport and `corral report` over a history of finished jobs from a real trace
(RICC, ../shared/traces), stored through the controller's own record path, against
a direct recomputation from the stored job rows: cluster utilization, user top,
account usage by user, in Slurm's layouts and as CSV. The fast variant uses 5,000
jobs; the slow one 100,000 (docs/accounting.md)."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.config import load_config
from corral.model.usage_record import HOUR_S
from corral.store.db import make_engine
from tests.compat.conftest import SRC, Compat
from tests.e2e.cluster import make_cluster
from tests.history import RICC, RICC_CPUS, load_history, recompute, trace_jobs

pytestmark = pytest.mark.skipif(not RICC.exists(), reason="the RICC trace is not here")


@pytest.fixture
def compat_empty() -> Iterator[Compat]:
    import os
    root = Path(tempfile.mkdtemp(prefix="corral-rep-"))
    root.chmod(0o755)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = SRC
    try:
        cluster = make_cluster(root, cpus=2)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    try:
        cluster.corral("compat", "install", str(root / "bin"))
        yield Compat(cluster, root / "bin", root)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def _check(compat: Compat, n_jobs: int) -> dict[str, float]:
    """Load n_jobs, then compare the reports with the recomputation; -> timings."""
    timings: dict[str, float] = {}
    engine = make_engine(load_config(str(compat.cluster.state)).database_url)
    t = time.monotonic()
    jobs = list(trace_jobs(RICC, n_jobs))
    assert load_history(engine, iter(jobs)) == n_jobs
    timings["load"] = time.monotonic() - t
    t0 = min(j.t_submit for j in jobs)
    t1 = max(j.t_end or 0.0 for j in jobs)
    # whole hours inside the history, so that jobs cross both ends of the period
    start = (int(t0) // HOUR_S + 6) * HOUR_S
    end = int(t0 + (t1 - t0) * 0.6) // HOUR_S * HOUR_S
    total, per = recompute(engine, start, end)
    engine.dispose()
    assert total > 0 and len(per) > 10
    period = [f"start={_local(start)}", f"end={_local(end)}"]
    reported = RICC_CPUS * (end - start)

    t = time.monotonic()
    out = compat.out("sreport", "-P", "-n", "-t", "seconds", "cluster", "utilization",
                     *period)
    timings["sreport cluster utilization"] = time.monotonic() - t
    assert out.splitlines() == [
        f"corral|{round(total)}|0|0|{round(reported - total)}|0|{reported}"], out

    t = time.monotonic()
    out = compat.out("sreport", "-P", "-n", "-t", "minutes", "user", "top", "topcount=10",
                     *period)
    timings["sreport user top"] = time.monotonic() - t
    ranked = sorted(per.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))[:10]
    got = [line.split("|") for line in out.splitlines()]
    assert [(r[0], r[1], r[3], r[4]) for r in got] == \
        [("corral", u, a, f"{v / 60:.0f}") for (u, a), v in ranked], out

    out = compat.out("sreport", "-P", "-n", "-t", "seconds", "cluster",
                     "AccountUtilizationByUser", *period)
    rows = [line.split("|") for line in out.splitlines()]
    assert rows[0][:3] == ["corral", "root", ""] and rows[0][4] == str(round(total))
    by_account: dict[str, float] = {}
    for (_u, a), v in per.items():
        by_account[a] = by_account.get(a, 0.0) + v
    got_accounts = {r[1]: r[4] for r in rows[1:] if not r[2]}
    assert got_accounts == {a: str(round(v)) for a, v in by_account.items()}, out
    got_users = {(r[1], r[2]): r[4] for r in rows if r[2]}
    assert got_users == {(a, u): str(round(v)) for (u, a), v in per.items()}

    # sacct reads a window of the history through the t_end indexes
    s0, s1 = start + 3 * HOUR_S, start + 4 * HOUR_S
    t = time.monotonic()
    out = compat.out("sacct", "-a", "-X", "-n", "-P", "-o", "JobID", "-S", _local(s0),
                     "-E", _local(s1))
    timings["sacct -a -X over an hour"] = time.monotonic() - t
    want = sum(1 for j in jobs if j.t_submit <= s1 and (j.t_end or 0) >= s0)
    assert want > 0 and len(out.splitlines()) == want

    t = time.monotonic()
    out = compat.cluster.corral("report", "user", "top", "--csv", "--unit", "seconds",
                                "--top", "100000", "--start", str(start), "--end",
                                str(end)).stdout
    timings["corral report user top --csv"] = time.monotonic() - t
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(per)
    for r in table:
        assert float(r["CPU"]) == pytest.approx(per[(r["USER"], r["ACCOUNT"])], rel=1e-9)
    out = compat.cluster.corral("report", "cluster", "utilization", "--csv", "--unit",
                                "seconds", "--bucket", "day", "--start", str(start),
                                "--end", str(end)).stdout
    days = list(csv.DictReader(io.StringIO(out)))
    assert len(days) == -(-(end - start) // 86400)
    assert sum(float(d["ALLOCATED"]) for d in days) == pytest.approx(total, rel=1e-9)
    assert sum(float(d["REPORTED"]) for d in days) == pytest.approx(reported, rel=1e-9)
    return timings


def test_reports_match_a_recomputation_small(compat_empty: Compat) -> None:
    timings = _check(compat_empty, 5_000)
    print(timings)
    # Slurm's layouts: the banner, the header and the column widths; -p ends rows with |
    out = compat_empty.out("sreport", "cluster", "utilization", "start=2010-05-01",
                           "end=2010-05-02").splitlines()
    assert out[0] == "-" * 80 and out[1].startswith("Cluster Utilization 2010-05-01T00:00:00")
    assert out[2] == "Usage reported in CPU Minutes"
    assert out[4].split() == ["Cluster", "Allocated", "Down", "PLND", "Down", "Idle",
                              "Planned", "Reported"]
    assert out[5] == " ".join("-" * w for w in (9, 12, 10, 10, 12, 9, 12)) + " "
    pct = compat_empty.out("sreport", "-t", "percent", "-p", "-n", "cluster", "utilization",
                           "start=2010-05-01", "end=2010-05-02").strip()
    assert pct.startswith("corral|") and pct.endswith("|100.00%|"), pct
    # corral report: tables, JSON, and one-line refusals
    c = compat_empty.cluster
    sizes = c.corral("report", "job", "sizes", "-S", "2010-04-01", "-E", "2010-06-01").stdout
    assert sizes.splitlines()[1].split() == ["CPUS", "JOBS", "CPU", "MEAN_WAIT_S"]
    assert len(sizes.splitlines()) > 3
    import json
    rows = json.loads(c.corral("report", "account", "usage", "--json", "-S", "2010-04-01",
                               "-E", "2010-06-01").stdout)["rows"]
    assert rows[0]["account"] == "root" and rows[0]["jobs"] > 0
    for args, word in ((("user", "top", "-S", "yesterday-ish"), "--start"),
                       (("cluster", "utilization", "-S", "2010-05-02", "-E", "2010-05-01"),
                        "end")):
        r = c.corral("report", *args, check=False)
        assert r.returncode in (1, 2) and word in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    bad = compat_empty.run("sreport", "job", "sizesbyaccount", rc=1)
    assert bad.stderr.startswith("sreport: error: ") and len(bad.stderr.splitlines()) == 1


@pytest.mark.slow
def test_reports_match_a_recomputation_100k(compat_empty: Compat) -> None:
    timings = _check(compat_empty, 100_000)
    print(timings)
    for what, seconds in timings.items():
        if what != "load":
            assert seconds < 10, timings  # history scale: seconds, not minutes
