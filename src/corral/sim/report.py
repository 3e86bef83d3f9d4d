"""Per-job CSV and PNG figures of a replay (matplotlib is imported lazily)."""

from __future__ import annotations

import csv
from pathlib import Path

from corral.sim.engine import SimResult


def write_jobs_csv(res: SimResult, path: str | Path) -> None:
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "submit", "start", "end", "procs", "limit", "wait", "user"])
        for k, j in enumerate(res.jobs):
            start, end = res.t_start[k], res.t_end[k]
            w.writerow(
                [
                    j.job_id,
                    _num(j.t_submit),
                    _num(start),
                    _num(end),
                    j.procs,
                    _num(j.limit_s),
                    _num(start - j.t_submit),
                    j.user,
                ]
            )


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def _series(res: SimResult) -> tuple[list[float], list[int], list[int]]:
    """Busy processors and queue length over time, as step functions."""
    events: list[tuple[float, int, int]] = []  # time, d_busy, d_queue
    for k, j in enumerate(res.jobs):
        events.append((j.t_submit, 0, 1))
        if res.t_start[k] >= 0:
            events.append((res.t_start[k], j.procs, -1))
            events.append((res.t_end[k], -j.procs, 0))
    events.sort()
    ts: list[float] = []
    busy: list[int] = []
    queue: list[int] = []
    b = q = 0
    for t, db, dq in events:
        b += db
        q += dq
        if ts and ts[-1] == t:
            busy[-1], queue[-1] = b, q
        else:
            ts.append(t)
            busy.append(b)
            queue.append(q)
    return ts, busy, queue


def _daily_mean(ts: list[float], ys: list[int], t0: float) -> tuple[list[float], list[float]]:
    """Time-weighted mean of a step function per day (x at mid-day, in days)."""
    if not ts:
        return [], []
    n_days = int((ts[-1] - t0) // 86400) + 1
    acc = [0.0] * n_days
    for k in range(len(ts) - 1):
        a, b, y = ts[k], ts[k + 1], ys[k]
        while a < b:
            day = int((a - t0) // 86400)
            edge = min(b, t0 + (day + 1) * 86400)
            acc[day] += y * (edge - a)
            a = edge
    return [d + 0.5 for d in range(n_days)], [v / 86400 for v in acc]


def write_plots(res: SimResult, out_dir: str | Path, title: str = "") -> list[Path]:
    """utilization.png, queue.png, wait_hist.png in out_dir; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ts, busy, queue = _series(res)
    t0 = ts[0] if ts else 0.0
    days = [(t - t0) / 86400 for t in ts]
    paths = []

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.step(
        days,
        [b / res.procs_total for b in busy],
        where="post",
        lw=0.3,
        alpha=0.35,
        label="instantaneous",
    )
    dx, dy = _daily_mean(ts, busy, t0)
    ax.plot(dx, [y / res.procs_total for y in dy], lw=1.4, color="black", label="daily mean")
    ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="days", ylabel="utilization", ylim=(0, 1.05), title=f"{title} utilization")
    fig.tight_layout()
    paths.append(out / "utilization.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.step(days, queue, where="post", lw=0.6, color="tab:red")
    ax.set(xlabel="days", ylabel="waiting jobs", title=f"{title} queue length")
    fig.tight_layout()
    paths.append(out / "queue.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    waits = [
        (res.t_start[k] - j.t_submit) / 3600 for k, j in enumerate(res.jobs) if res.t_start[k] >= 0
    ]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(waits, bins=60, log=True)
    ax.set(xlabel="wait (hours)", ylabel="jobs (log)", title=f"{title} wait times")
    fig.tight_layout()
    paths.append(out / "wait_hist.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
