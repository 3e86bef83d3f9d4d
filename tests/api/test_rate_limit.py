"""Per-user rate limiting ([rate_limit]): the token buckets with a fake clock, then
the API's answers (429, Retry-After, one line, nothing done) in-process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from corral.api.app import create_app
from corral.config import load_config
from corral.model.errors import InvalidRequest
from corral.services.rate_limit import RateLimiter
from tests.api.harness import peer_client, register_n1, start_controller

PLAIN_UID = 65534
OTHER_UID = 65533  # no entry in the user database: the caller is named "65533"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    clock = Clock()
    rl = RateLimiter(3, 2.0, clock=clock)
    assert [rl.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("a") == pytest.approx(0.5)  # one request back in 1 / 2 s
    assert rl.take("b") == 0.0  # every user has a bucket of their own
    clock.t += 0.25
    assert rl.take("a") == pytest.approx(0.25)  # half of one is there: nothing taken
    clock.t += 0.25
    assert rl.take("a") == 0.0
    assert rl.take("a") > 0
    clock.t += 100.0  # refilled to the bucket's size, no more
    assert [rl.take("a") for _ in range(4)][-1] > 0


def test_the_table_of_buckets_stays_bounded() -> None:
    clock = Clock()
    rl = RateLimiter(2, 1.0, clock=clock, max_users=100)
    for i in range(1000):
        rl.take(f"u{i}")
        clock.t += 0.001
    assert len(rl) <= 100
    # buckets that have refilled go first: a user who spent theirs just now stays
    clock.t += 10.0
    rl.take("busy")
    rl.take("busy")
    for i in range(95):
        rl.take(f"v{i}")
    assert len(rl) <= 100
    assert rl.take("busy") > 0
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)


CONFIG = """
[rate_limit]
enabled = true
bucket_size = 3
refill_per_s = 0.5
"""


def test_a_user_over_the_rate_gets_429_and_nothing_is_done(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text(CONFIG)

    async def main() -> None:
        ctl = await start_controller(tmp_path)
        app = create_app(ctl)
        user, other, admin = (peer_client(app, u) for u in (PLAIN_UID, OTHER_UID, os.getuid()))
        try:
            await register_n1(admin)
            job = {"name": "t", "working_dir": "/tmp", "argv": ["true"], "hold": True}
            for _ in range(2):
                assert (await user.get("/v1/jobs")).status_code == 200
            assert (await user.post("/v1/jobs", json=job)).status_code == 201
            r = await user.post("/v1/jobs", json=job)  # the fourth request
            assert r.status_code == 429, r.text
            body = r.json()
            assert body["error"] == "rate_limited"
            assert body["message"].startswith("rate limit: user nobody is over 3 requests "
                                              "at once and 0.5 a second")
            assert "\n" not in body["message"]
            assert 0 < body["retry_after_s"] <= 2.0
            assert r.headers["retry-after"] == "2"
            # refused before anything was done: one job, not two
            jobs = (await admin.get("/v1/jobs?view=brief")).json()["jobs"]
            assert len(jobs) == 1
            assert (await user.get("/v1/jobs/1")).status_code == 429
            # another user and an administrator are not held back by it
            assert (await other.get("/v1/jobs")).status_code == 200
            for _ in range(10):
                assert (await admin.get("/v1/jobs")).status_code == 200
        finally:
            for c in (user, other, admin):
                await c.aclose()
            await ctl.stop()
            ctl.engine.dispose()
    asyncio.run(main())


def test_rate_limit_settings_are_checked(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text("[rate_limit]\nenabled = true\nrefill_per_s = 0\n")
    with pytest.raises(InvalidRequest, match=r"'rate_limit\.refill_per_s': Input should be "
                                              r"greater than 0 \(got 0\)"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text("[rate_limit]\nbucket_size = 0\n")
    with pytest.raises(InvalidRequest, match=r"'rate_limit\.bucket_size'"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text("")
    assert load_config(str(tmp_path)).rate_limit.enabled is False  # off unless asked
