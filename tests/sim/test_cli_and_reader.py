from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.sched import EASY, FCFS, Conservative, EasyPlusPlus, Policy
from corral.sim.cli import sim
from corral.sim.engine import simulate
from corral.sim.jobs import jobs_from_swf
from corral.sim.settings import PRESETS
from corral.sim.swf import TraceError, read_swf

from .conftest import KTH, need

SWF = """; Version: 2.2
; MaxNodes: 8
; MaxProcs: 8
1 0 0 100 4 -1 -1 4 200 -1 1 7 1 -1 1 -1 -1 -1
2 10 0 50 8 -1 -1 8 60 -1 1 8 1 -1 1 -1 -1 -1
3 20 0 10 2 -1 -1 2 30 -1 1 7 1 -1 1 -1 -1 -1
4 30 0 0 2 -1 -1 2 30 -1 1 7 1 -1 1 -1 -1 -1
5 40 0 500 2 -1 -1 -1 100 -1 1 7 1 -1 1 -1 -1 -1
"""


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    p = tmp_path / "t.swf.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(SWF)
    return p


def test_reader_plain_and_gz(tmp_path: Path, trace: Path) -> None:
    plain = tmp_path / "t.swf"
    plain.write_text(SWF)
    a, b = read_swf(plain), read_swf(trace)
    assert a.records == b.records and len(a.records) == 5
    assert a.max_procs == 8 and a.header["Version"] == "2.2"
    r = a.records[0]
    assert (r.job_id, r.t_submit, r.run_s, r.procs_alloc, r.procs_req, r.limit_s, r.user) == (
        1,
        0,
        100,
        4,
        4,
        200,
        "7",
    )


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        read_swf(tmp_path / "missing.swf")
    bad = tmp_path / "bad.swf"
    bad.write_text("1 2 3\n")
    with pytest.raises(TraceError, match=r"bad.swf:1"):
        read_swf(bad)



@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (1, "nan", r"field 2 \(submit time\) is nan: must be a finite number"),
        (1, "inf", r"field 2 \(submit time\) is inf"),
        (0, "-inf", r"field 1 \(job id\) is -inf"),
        (8, "1e400", r"field 9 \(requested time\) is inf"),
        (4, "1e23", r"field 5 \(allocated processors\) is 1e\+23: .* within ±1e\+15"),
        (14, "nan", r"field 15 \(queue\) is nan"),
        (15, "x", r"field 16 \(partition\) is not a number: 'x'"),
    ],
)
def test_reader_rejects_hostile_fields(
    tmp_path: Path, trace: Path, column: int, value: str, message: str
) -> None:
    """A field that is not a finite number of sane size is a one-line error
    naming the line, the field and the value (it would make NaN metrics, or
    a traceback), by the reader and by the CLI."""
    fields = SWF.splitlines()[4].split()
    fields[column] = value
    bad = tmp_path / "bad.swf"
    bad.write_text(SWF + " ".join(fields) + "\n")
    with pytest.raises(TraceError, match=r"bad.swf:9: " + message):
        read_swf(bad)
    r = CliRunner().invoke(sim, [str(bad), "--policy", "easy,predictive"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert r.stderr.startswith("error: ") and r.stdout == ""


def test_settings_change_the_jobs(trace: Path) -> None:
    recs = read_swf(trace).records
    corral = jobs_from_swf(recs, PRESETS["corral"], 8)
    pyss = jobs_from_swf(recs, PRESETS["pyss"], 8)
    assert [j.job_id for j in corral] == [1, 2, 3, 5]  # runtime 0 dropped
    assert [(j.run_s, j.limit_s) for j in pyss if j.job_id == 4] == [(1.0, 1.0)]
    # job 5 ran 500 s past its 100 s request: killed at the request
    assert [(j.run_s, j.limit_s) for j in corral if j.job_id == 5] == [(100.0, 100.0)]
    assert [(j.run_s, j.limit_s) for j in pyss if j.job_id == 5] == [(100.0, 500.0)]
    nokill = jobs_from_swf(recs, PRESETS["corral"].replace(kill_at_limit=False), 8)
    assert [j.run_s for j in nokill if j.job_id == 5] == [500.0]


def test_cli_json_csv_plots(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "jobs.csv"
    r = CliRunner().invoke(
        sim,
        [
            str(trace),
            "--policy",
            "easy",
            "--json",
            "--jobs-out",
            str(out),
            "--plots",
            str(tmp_path / "fig"),
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["jobs"] == 4 and m["procs"] == 8 and 0 < m["utilization"] <= 1
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,submit,start,end,procs") and len(lines) == 5
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "queue.png",
        "utilization.png",
        "wait_hist.png",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["/no/such.swf"],
        ["{t}", "--policy", "sjf"],
        ["{t}", "--preset", "nope"],
        ["{t}", "--set", "nope=1"],
        ["{t}", "--set", "fs_half_life_s=nan"],
        ["{t}", "--set", "prio_age=-1"],
        ["{t}", "--set", "e_speed=inf"],
        ["{t}", "--set", "efficiency_procs=1.5"],
        ["{t}", "--procs", "0"],
        ["{t}", "--procs", "100000000000000000000"],
        ["{t}", "--limit", "-5"],
        ["{t}", "--limit", "0"],
        ["--from-store", "--days", "nan"],
        ["--from-store", "--days", "-1"],
        ["{t}", "--jobs-out", "/nonexistent/dir/jobs.csv"],
        ["{t}", "--jobs-out", "/dev/full"],  # the write fails: no space left
    ],
)
def test_cli_errors_are_one_line(trace: Path, args: list[str]) -> None:
    r = CliRunner().invoke(sim, [a.format(t=trace) for a in args])
    assert r.exit_code == 2
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")


@pytest.mark.parametrize("policy", [FCFS, EASY, EasyPlusPlus, Conservative])
def test_incremental_cycles_change_nothing(policy: type[Policy]) -> None:
    recs = read_swf(need(KTH), limit_jobs=6000).records
    jobs = jobs_from_swf(recs, PRESETS["pyss"], 100)
    a = simulate(jobs, 100, policy(), PRESETS["pyss"], incremental=True)
    b = simulate(jobs, 100, policy(), PRESETS["pyss"], incremental=False)
    assert a.t_start == b.t_start


def test_cli_lists_every_policy_and_preset() -> None:
    from corral.sched import POLICIES
    from corral.sim.cli import POLICY_NAMES, PRESET_NAMES

    assert set(POLICY_NAMES) == set(POLICIES)
    assert set(PRESET_NAMES) == set(PRESETS)


def test_wait_tail_metrics() -> None:
    """The 99th-percentile wait (nearest rank) and the mean of the 100 longest
    waits, over the valid jobs only, beside the longest."""
    from corral.sim.engine import SimResult
    from corral.sim.jobs import SimJob
    from corral.sim.metrics import compute

    n = 250
    waits = [float((k * 37) % n) for k in range(n)]  # 0..249, shuffled
    jobs = [SimJob(k, 0.0, 10.0, 20.0, 1, "u") for k in range(n)]
    jobs.append(SimJob(n, 0.0, 0.0, 20.0, 1, "u", valid=False))  # waits 10,000 s
    res = SimResult(
        jobs=jobs,
        t_start=[*waits, 10_000.0],
        t_end=[w + 10.0 for w in waits] + [10_000.0],
        procs_total=4,
        n_cycles=1,
        policy="easy",
        timeline=[],
    )
    m = compute(res)
    assert m.max_wait_s == 249.0
    assert m.p99_wait_s == 247.0  # rank ceil(0.99 * 250) = 248 of 0..249
    assert m.top100_wait_s == sum(range(150, 250)) / 100
    few = compute(SimResult(jobs[:3], waits[:3], [w + 10 for w in waits[:3]], 4, 1, "e", []))
    assert few.p99_wait_s == max(waits[:3]) and few.top100_wait_s == sum(waits[:3]) / 3
    empty = compute(SimResult([], [], [], 4, 0, "e", []))
    assert (empty.p99_wait_s, empty.top100_wait_s) == (0.0, 0.0)


def test_cli_table_shows_the_wait_tail(trace: Path) -> None:
    r = CliRunner().invoke(sim, [str(trace), "--policy", "fcfs,easy"])
    assert r.exit_code == 0, r.output
    head = next(ln for ln in r.output.splitlines() if ln.startswith("policy"))
    assert " ".join(head.split()) == "policy bsld mean wait s p99 wait s max wait s util"
    r = CliRunner().invoke(sim, [str(trace), "--policy", "easy", "--json"])
    m = json.loads(r.stdout)
    assert 0 <= m["p99_wait_s"] <= m["max_wait_s"] and m["top100_wait_s"] <= m["max_wait_s"]
