"""The agent's side of fencing and of finding the leader (agent/leaders.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from corral.agent.leaders import LeaderFinder


def test_orders_of_an_older_epoch_are_ignored_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = LeaderFinder("http://a:1", tmp_path)
    assert f.accept_epoch(3) and f.epoch == 3
    assert f.order_current({"kind": "launch", "job_id": 7, "epoch": 3})
    assert f.order_current({"kind": "launch", "job_id": 7})  # (an earlier controller)
    with caplog.at_level(logging.WARNING):
        assert not f.order_current({"kind": "launch", "job_id": 7, "epoch": 2})
        assert not f.accept_epoch(2)
    assert "order launch for job 7 of epoch 2 ignored" in caplog.text
    assert f.accept_epoch(4) and f.epoch == 4
    # a restarted agent still knows it
    again = LeaderFinder("http://a:1", tmp_path)
    assert again.epoch == 4
    # a registration taken (stored, so by the leader) is believed: a new database
    assert not again.accept_epoch(1)
    assert again.accept_epoch(1, registered=True) and again.epoch == 1
    assert LeaderFinder("http://a:1", tmp_path).epoch == 1


def test_the_next_controller_is_the_one_named_or_the_next(tmp_path: Path) -> None:
    f = LeaderFinder("http://a:1, http://b:2/,http://c:3", tmp_path)
    assert f.url == "http://a:1" and f.several
    assert f.next(json.dumps({"error": "not_leader", "leader": "http://c:3"})) == \
        "http://c:3"
    assert f.next(None) == "http://a:1"
    assert f.next(json.dumps({"leader": "http://elsewhere:9"})) == "http://b:2"
    assert f.next("not json") == "http://c:3"
