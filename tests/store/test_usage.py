"""Usage records and their rollups on both backends: a job's usage spread over the
hours it ran in, whole, its end counted once; a record replaced by the same job's
later end; sums of what is known (energy unknown stays NULL); and the longest
submit-to-end kept for sacct's window."""

from __future__ import annotations

from sqlalchemy import Engine

from corral.model.usage_record import make_record
from corral.store import usage as store_usage
from corral.store.jobs import MAX_SPAN_KEY
from corral.store.meta import get_meta

H = 3600


def _rec(job_id: int, t_start: float, t_end: float, **kw: object) -> object:
    args: dict[str, object] = dict(
        job_id=job_id, user="alice", account="physics", partition="main",
        state="COMPLETED", t_submit=t_start - 100, t_start=t_start, t_end=t_end, nodes=1,
        cpus=4, gpus=1, mem_mb=0.0, cpu_s_used=None, max_rss_mb=None, energy_j=None,
        billing=2.0, exit_code=0)
    args.update(kw)
    return make_record(**args)  # type: ignore[arg-type]


def test_records_roll_up_by_hour_and_answer_the_reports(engine: Engine) -> None:
    a = _rec(1, 10 * H - 600, 12 * H + 300, cpu_s_used=100.0)  # 3 hours touched
    b = _rec(2, 11 * H, 11 * H + 60, user="bob", account="", energy_j=50.0)
    with engine.begin() as conn:
        store_usage.write_records(conn, [a, b])  # type: ignore[list-item]
        store_usage.add_capacity(conn, {10 * H: (8 * H, 0.0, 0.0, 0.0)})
    with engine.connect() as conn:
        hours = {int(h): (alloc, jobs) for h, alloc, _g, _c, jobs in
                 store_usage.usage_per_hour(conn, 9 * H, 13 * H)}
        assert hours == {9 * H: (4 * 600, 0), 10 * H: (4 * H, 0),
                         11 * H: (4 * H + 4 * 60, 1), 12 * H: (4 * 300, 1)}
        assert store_usage.usage_per_hour(conn, 10 * H, 11 * H)[0][1] == 4 * H
        rows = {(r[0], r[1]): r for r in store_usage.usage_by_user(conn, 0, 20 * H)}
        alice = rows[("alice", "physics")]
        assert alice[2] == 4 * (2 * H + 900) and alice[3] == 100.0 and alice[6] is None
        assert rows[("bob", "")][6] == 50.0  # energy where known
        assert [int(r[0]) for r in store_usage.jobs_by(conn, 0, 20 * H, "size")] == [3]
        assert store_usage.capacity_per_hour(conn, 0, 20 * H)[0][1] == 8 * H
        assert float(get_meta(conn, MAX_SPAN_KEY) or 0) == 2 * H + 900 + 100
    # the same job ending again (after a requeue) replaces its record
    with engine.begin() as conn:
        store_usage.write_records(conn, [_rec(2, 14 * H, 14 * H + 10, user="bob")])  # type: ignore[list-item]
        recs = store_usage.job_records(conn, 2)
    assert len(recs) == 1 and recs[0]["t_start"] == 14 * H


def test_the_sites_of_a_jobs_nodes_are_kept_for_the_sites_fair_share(engine: Engine) -> None:
    recs = [_rec(1, 10 * H, 11 * H, sites="a,a"), _rec(2, 10 * H, 12 * H),
            _rec(3, 5 * H, 6 * H, sites="b"), _rec(4, 10 * H, 13 * H, sites="a,", user="bob")]
    with engine.begin() as conn:
        store_usage.write_records(conn, recs)  # type: ignore[arg-type]
        runs = store_usage.site_runs_since(conn, 7 * H)
    # only jobs on a site's nodes, ended since then, oldest first; steps' records not
    assert runs == [("a,a", "physics", "alice", 4 * H, 11 * H),
                    ("a,", "physics", "bob", 3 * 4 * H, 13 * H)]
