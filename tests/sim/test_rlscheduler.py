"""RLScheduler-compatible mode: the heuristic tables of Zhang et al. (SC'20).

The published cells are those of the RLScheduler README ("Reproduce Results in
Paper", `make_table_script.py`), Lublin-1 = lublin_256, Lublin-2 =
lublin_256_new2. A full cell (10 windows of 1,024 jobs) takes about 0.1-0.2 s,
so all 20 cells run in the default suite.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.sched.scores import rlscheduler_key
from corral.sim.cli import RL_POLICY_NAMES, sim
from corral.sim.rlsched import RL_POLICIES, load_jobs, run_window, table_cell
from corral.sim.run import SimError, rl_cell
from corral.sim.swf import read_swf

from .conftest import TRACES, need

LUBLIN = {"lublin1": TRACES / "lublin_256.swf.gz", "lublin2": TRACES / "lublin_256_new2.swf.gz"}

# (trace, backfill) -> policy -> (mean bounded slowdown, utilization), as published
PUBLISHED = {
    ("lublin1", False): {
        "fcfs": (7273.77, 0.657),
        "wfp3": (19753.53, 0.747),
        "unicep": (22274.74, 0.691),
        "sjf": (277.35, 0.762),
        "f1": (258.37, 0.816),
    },
    ("lublin1", True): {
        "fcfs": (235.82, 0.868),
        "wfp3": (133.87, 0.864),
        "unicep": (307.23, 0.883),
        "sjf": (73.31, 0.778),
        "f1": (75.07, 0.840),
    },
    ("lublin2", False): {
        "fcfs": (7842.47, 0.404),
        "wfp3": (9523.18, 0.543),
        "unicep": (11265.31, 0.510),
        "sjf": (787.89, 0.562),
        "f1": (698.34, 0.478),
    },
    ("lublin2", True): {
        "fcfs": (247.61, 0.587),
        "wfp3": (318.35, 0.583),
        "unicep": (379.59, 0.587),
        "sjf": (91.99, 0.593),
        "f1": (148.25, 0.552),
    },
}

CELLS = [
    (trace, backfill, policy) for (trace, backfill), row in PUBLISHED.items() for policy in row
]


@pytest.mark.parametrize(("trace", "backfill", "policy"), CELLS)
def test_published_cell(trace: str, backfill: bool, policy: str) -> None:
    cell = table_cell(need(LUBLIN[trace]), policy, backfill)
    bsld, util = PUBLISHED[(trace, backfill)][policy]
    assert len(cell.windows) == 10 and all(w.jobs == 1024 for w in cell.windows)
    assert round(cell.mean_bounded_slowdown, 2) == bsld
    assert round(cell.utilization, 3) == util


def test_cli_json_is_the_cell() -> None:
    path = need(LUBLIN["lublin2"])
    args = [str(path), "--preset", "rlscheduler", "--policy", "sjf", "--backfill", "--json"]
    r = CliRunner().invoke(sim, args)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["preset"] == "rlscheduler" and d["backfill"] is True and d["windows"] == 10
    assert round(d["mean_bounded_slowdown"], 2) == 91.99
    assert round(d["utilization"], 3) == 0.593


def test_policy_names_match() -> None:
    assert set(RL_POLICY_NAMES) == set(RL_POLICIES)


# --- the protocol, pinned on tiny hand-made windows ------------------------

HEADER = "; MaxNodes: 4\n"


def _swf(tmp_path: Path, rows: list[tuple[int, int, int, int]], est: bool = False) -> Path:
    """rows: (submit, run, procs, estimate or -1)."""
    lines = [HEADER]
    for k, (submit, run, procs, e) in enumerate(rows, 1):
        lines.append(f"{k} {submit} -1 {run} {procs} -1 -1 -1 {e} -1 1 -1 -1 -1 0 -1 -1 -1\n")
    p = tmp_path / "w.swf"
    p.write_text("".join(lines))
    return p


def _starts(path: Path, policy: str, backfill: bool) -> tuple[int, ...]:
    tr = read_swf(path)
    jobs = load_jobs(tr.records)
    return run_window(jobs, 0, len(jobs), policy, backfill, 4, 4, 1.0).starts


def test_head_waits_and_is_not_rechosen(tmp_path: Path) -> None:
    # job 2 (2 procs) waits for job 1; job 3 arrives meanwhile and is shorter,
    # but SJF does not re-choose: job 2 starts first, at job 1's end.
    # job 4 arrives exactly at that end: arrivals come first on ties, so it is
    # queued before the release, and SJF then takes it before job 3.
    rows = [(0, 100, 3, -1), (10, 50, 2, -1), (20, 80, 2, -1), (100, 5, 2, -1)]
    assert _starts(_swf(tmp_path, rows), "sjf", False) == (0, 100, 105, 100)
    assert _starts(_swf(tmp_path, rows), "fcfs", False) == (0, 100, 100, 150)


def test_backfill_shadow_is_strict_and_fcfs(tmp_path: Path) -> None:
    # job 2 blocks; shadow = 100 (job 1's start + estimate). Job 3 would end at
    # exactly 100: not backfilled (strict). Job 4 ends at 99: backfilled at 30.
    rows = [(0, 100, 3, -1), (10, 50, 2, -1), (20, 80, 1, -1), (30, 69, 1, -1)]
    assert _starts(_swf(tmp_path, rows), "fcfs", True) == (0, 100, 100, 30)
    assert _starts(_swf(tmp_path, rows), "fcfs", False) == (0, 100, 100, 100)


def test_backfill_plans_with_estimates_and_never_kills(tmp_path: Path) -> None:
    # job 1 estimates 60 but runs 100: the shadow is 60, job 3 (estimate 40,
    # ends 10 + 40 = 50 < 60) backfills although it really runs 200 s, and the
    # head (4 procs) waits for it.
    rows = [(0, 100, 3, 60), (5, 10, 4, 10), (10, 200, 1, 40)]
    starts = _starts(_swf(tmp_path, rows), "fcfs", True)
    assert starts == (0, 210, 10)


def test_scores_copy_the_waiting_time_defect() -> None:
    # waiting time = -(submit + 1): WFP3 = ((s+1)/e)^3 * n, UNICEP = (s+1)/(log2 n * e)
    assert rlscheduler_key("wfp3", 99, 4, 10) == pytest.approx((100 / 10) ** 3 * 4)
    assert rlscheduler_key("unicep", 99, 4, 10) == pytest.approx(100 / (2 * 10))
    assert rlscheduler_key("f1", 1000, 8, 100) == pytest.approx(2 * 8 + 870 * 3)
    assert rlscheduler_key("f1", 0, 8, 0) == pytest.approx(-8 - 870)
    assert rlscheduler_key("sjf", 5, 1, 7) == (7, 5)
    assert rlscheduler_key("fcfs", 5, 1, 7) == 5


def test_loader_and_utilization_span(tmp_path: Path) -> None:
    # runtime 0 dropped, runtime < 0 -> 10 s (its estimate -1 became -10 first);
    # utilization's span ends at the last start, not the last end.
    rows = [(0, 100, 2, -1), (1, 0, 1, -1), (2, -5, 1, -1), (50, 10, 4, -1)]
    tr = read_swf(_swf(tmp_path, rows))
    jobs = load_jobs(tr.records)
    assert [(j.job_id, j.run, j.estimate) for j in jobs] == [
        (1, 100, 100),
        (3, 10, -5),
        (4, 10, 10),
    ]
    w = run_window(jobs, 0, 3, "fcfs", False, 4, 4, 1.0)
    assert w.starts == (0, 2, 100)
    assert w.t_clock_end == 100
    assert w.utilization == pytest.approx((100 * 2 + 10 + 10 * 4) / (100 * 4))
    bslds = [1.0, max(1.0, 10 / 10), max(1.0, (50 + 10) / 10)]
    assert w.mean_bounded_slowdown == pytest.approx(sum(bslds) / 3)


def test_windows_and_errors(tmp_path: Path) -> None:
    rows = [(0, 100, 3, -1), (10, 50, 2, -1), (20, 80, 1, -1), (30, 69, 1, -1)]
    path = _swf(tmp_path, rows)
    cell = rl_cell(path, "fcfs", overrides={"rl_window_starts": "0,1", "rl_window_jobs": "3"})
    assert [w.start_index for w in cell.windows] == [0, 1]
    assert math.isclose(
        cell.mean_bounded_slowdown,
        sum(w.mean_bounded_slowdown for w in cell.windows) / 2,
    )
    with pytest.raises(SimError, match="outside the trace"):
        rl_cell(path, "fcfs", overrides={"rl_window_starts": "2", "rl_window_jobs": "3"})
    with pytest.raises(SimError, match="unknown policy"):
        rl_cell(path, "easy")
    with pytest.raises(SimError, match="does not use"):
        rl_cell(path, "fcfs", "pyss")


@pytest.mark.parametrize(
    "args",
    [
        ["--preset", "rlscheduler", "--policy", "easy"],
        ["--backfill"],
        ["--preset", "rlscheduler", "--procs", "8"],
        ["--preset", "rlscheduler", "--set", "rl_window_jobs=x"],
    ],
)
def test_cli_errors(tmp_path: Path, args: list[str]) -> None:
    path = _swf(tmp_path, [(0, 100, 3, -1), (10, 50, 2, -1)])
    r = CliRunner().invoke(sim, [str(path), *args])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
