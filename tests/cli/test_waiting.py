"""`corral submit --wait`'s follow loop against a scripted controller: progress
lines, asking again while it is away, giving up only after the bound."""

from __future__ import annotations

import time
from typing import Any

import pytest

from corral.cli import waiting
from corral.model.errors import Unavailable


class Scripted:
    """Answers `wait` from a list: a dict is a job, an exception is raised."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.closed = 0

    def wait(self, job_id: int, timeout_s: float) -> dict[str, Any]:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer, id=job_id, display_id=str(job_id))

    def close(self) -> None:
        self.closed += 1


def test_progress_lines_and_a_controller_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiting, "BACKOFF_S", (0.0,))
    start = time.mktime((2030, 1, 2, 3, 4, 5, 0, 0, -1))
    away = Unavailable("controller: nothing answers at unix:///x.sock")
    client = Scripted([
        {"state": "PENDING", "reason": "Resources", "t_expected_start": start},
        {"state": "PENDING", "reason": "Resources", "t_expected_start": start},
        away, away,
        {"state": "RUNNING", "node_list": ["node1", "node2"]},
        {"state": "FAILED", "exit_code": 3},
    ])
    lines: list[str] = []
    job = waiting.wait_one(client, 7, lines.append)  # type: ignore[arg-type]
    assert job["state"] == "FAILED" and client.closed == 2
    assert lines == [
        "job 7: PENDING (Resources), expected to start at 03:04:05",
        "job 7: controller: nothing answers at unix:///x.sock; asking again",
        "job 7: the controller answers again",
        "job 7: RUNNING on node1,node2",
        "job 7: FAILED",
    ]


def test_gives_up_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiting, "BACKOFF_S", (0.01,))
    client = Scripted([Unavailable("controller: connection to unix:///x.sock lost")])
    with pytest.raises(Unavailable, match=r"gave up after 0 s; job 7 may still be running"):
        waiting.wait_one(client, 7, None, unreachable_s=0.05)  # type: ignore[arg-type]
