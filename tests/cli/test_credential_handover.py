"""The client's side of handing a login over for `--credential` jobs: the refresh
token leaves the cache before it is sent, comes back when the controller answered
a refusal (it kept nothing), stays gone when the answer was lost (the controller may
have spent it), and is replaced by the controller's handle on success; a login
handed over once is not handed over again. (Against a real controller and
provider: tests/api/test_credentials.py, tests/e2e/test_job_credentials.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corral.client import tokens
from corral.model.errors import InvalidRequest, Unavailable

URL = "https://cluster.example.test:6817"


@pytest.fixture
def login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    tokens.save_login(URL, {"access_token": "A1", "expires_in": 300, "refresh_token": "R1"},
                      issuer="https://idp.test", client_id="cli",
                      token_endpoint="https://idp.test/token", resource=None)
    return tmp_path / "corral" / "tokens.json"


def cached(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())[URL])


def test_a_refusal_the_controller_answered_puts_the_refresh_token_back(login: Path) -> None:
    seen: list[dict[str, Any]] = []

    def refuse(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        assert "refresh_token" not in cached(login)  # gone before it is sent
        raise InvalidRequest("credential: the controller has no key")
    with pytest.raises(InvalidRequest):
        tokens.hand_over(URL, refuse)
    assert seen == [{"refresh_token": "R1"}]
    assert cached(login)["refresh_token"] == "R1"


def test_a_lost_answer_leaves_it_out(login: Path) -> None:
    def lost(body: dict[str, Any]) -> dict[str, Any]:
        raise Unavailable("controller: the connection was lost")
    with pytest.raises(Unavailable):
        tokens.hand_over(URL, lost)
    assert "refresh_token" not in cached(login)


def test_a_handed_over_login_keeps_the_handle_and_is_not_handed_over_again(
        login: Path) -> None:
    def accept(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": 7, "handle": "H" * 43, "access_token": "A2", "expires_in": 300}
    assert tokens.hand_over(URL, accept) == "A2"
    entry = cached(login)
    assert "refresh_token" not in entry
    assert entry["credential"] == {"id": 7, "handle": "H" * 43}
    assert tokens.access_token(URL) == "A2"

    def never(body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("handed over twice")
    assert tokens.hand_over(URL, never) is None
