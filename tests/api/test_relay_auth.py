"""A login host's relay speaking for its users (services/relays.py, api/auth.py),
in-process: its key, the address it connects from, the uids it may name and the
role its callers get at most are checked; the relay is in the audit trail and in
`whoami`; on the Unix socket relay headers count for nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api.app import create_app
from corral.config import load_config
from corral.model.errors import CorralError, InvalidRequest
from corral.model.relay import RELAY_HEADER, RELAY_KEY_HEADER, RELAY_UID_HEADER
from corral.services.controller import Controller
from corral.store.db import make_engine, migrate
from tests.api.test_tokens import JOB, run

KEY = "login1-relay-key-0123456789"
UID = 4000  # no such user in the passwd file: the caller is named by the number


def relayed(uid: int | str, *, name: str = "login1", key: str = KEY) -> dict[str, str]:
    return {RELAY_HEADER: name, RELAY_KEY_HEADER: key, RELAY_UID_HEADER: str(uid)}


def relay_config(tmp_path: Path) -> str:
    keys = {}
    for name in ("login1", "login2", "login3"):
        f = tmp_path / f"{name}.key"
        f.write_text(KEY.replace("login1", name) + "\n")
        f.chmod(0o600)
        keys[name] = f
    return f"""
[roles]
operators = ["{UID}", "{UID + 1}"]
[[auth.relays]]
name = "login1"
key_file = "{keys['login1']}"
[[auth.relays]]
name = "login2"
key_file = "{keys['login2']}"
max_role = "operator"
address = "10.1.2.3"
[[auth.relays]]
name = "login3"
key_file = "{keys['login3']}"
hosts = ["10.9.0.0/16", "192.0.2.7"]
"""


def test_a_relay_speaks_for_the_uids_and_roles_the_site_allows(tmp_path: Path) -> None:
    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        r = await tcp.post("/v1/jobs", json=JOB, headers=relayed(UID))
        assert r.status_code == 201, r.text
        mine = r.json()["id"]
        job = (await local.get(f"/v1/jobs/{mine}")).json()
        assert (job["uid"], job["user"]) == (UID, str(UID))

        me = (await tcp.get("/v1/whoami", headers=relayed(UID))).json()
        # an operator by the configuration, but login1 gives its callers no more
        # than the user role; login2 may give operator
        assert (me["uid"], me["via"], me["relay"], me["role"]) == (UID, "relay", "login1",
                                                                   "user")
        me = (await tcp.get("/v1/whoami", headers=relayed(UID, name="login2",
                                                           key=KEY.replace("1", "2", 1))
                            )).json()
        assert (me["relay"], me["role"]) == ("login2", "operator")

        theirs = (await tcp.post("/v1/jobs", json=JOB, headers=relayed(UID + 1))).json()["id"]
        r = await tcp.post(f"/v1/jobs/{theirs}/cancel", headers=relayed(UID))
        assert r.status_code == 403 and r.json()["message"].endswith("needs operator"), r.text
        r = await tcp.post(f"/v1/jobs/{theirs}/cancel",
                           headers=relayed(UID, name="login2", key=KEY.replace("1", "2", 1)))
        assert r.status_code == 200, r.text

        refusals = {
            "wrong key": (relayed(UID, key=KEY + "x"), 401,
                          "relay 'login1': unknown relay or wrong key"),
            "unknown relay": (relayed(UID, name="login9"), 401,
                              "relay 'login9': unknown relay or wrong key"),
            "another relay's key": (relayed(UID, name="login2"), 401,
                                    "relay 'login2': unknown relay or wrong key"),
            "root": (relayed(0), 403,
                     "relay login1 may not speak for uid 0 (its uids are 1000-4294967294)"),
            "a system uid": (relayed(999), 403, "relay login1 may not speak for uid 999 "
                                                "(its uids are 1000-4294967294)"),
            "no uid": (relayed(""), 401, "relay login1: the uid '' is not a number"),
            "not a uid": (relayed("-5"), 401, "relay login1: the uid '-5' is not a number"),
            "from elsewhere": (relayed(UID, name="login3", key=KEY.replace("1", "3", 1)),
                               401, "relay login3: may not connect from 127.0.0.1"),
        }
        for what, (headers, status, message) in refusals.items():
            r = await tcp.post("/v1/jobs", json=JOB, headers=headers)
            assert (r.status_code, r.json()["message"]) == (status, message), what
        assert len((await local.get("/v1/jobs")).json()["jobs"]) == 2  # nothing more queued

        # on the Unix socket the kernel's word wins: relay headers are ignored
        r = await local.post("/v1/jobs", json=JOB, headers=relayed(UID))
        job = (await local.get(f"/v1/jobs/{r.json()['id']}")).json()
        assert job["uid"] == os.getuid()

        entries = (await local.get("/v1/audit", params={"action": "submit"})).json()["entries"]
        by_relay = [e for e in entries if e["origin"].startswith("relay ")]
        assert (by_relay[0]["uid"], by_relay[0]["origin"], by_relay[0]["result"]) == (
            UID, "relay login1 at 127.0.0.1:123", "ok")
        refused = [e["result"] for e in entries if e["status"] >= 400]
        assert [m for _, _, m in refusals.values()] == refused
        cancel = (await local.get("/v1/audit", params={"job": theirs, "action": "cancel"})
                  ).json()["entries"]
        assert [(e["origin"], e["role"], e["status"]) for e in cancel] == [
            ("relay login1 at 127.0.0.1:123", "user", 403),
            ("relay login2 at 127.0.0.1:123", "operator", 200)]
    run(tmp_path, relay_config(tmp_path), scenario)


@pytest.mark.parametrize(("mode", "text", "message"), [
    (0o644, KEY, "may be read by other users (mode 0644): make it 0600"),
    (0o600, "short", "holds 5 bytes, fewer than the 16 a key needs"),
])
def test_a_relay_key_file_others_may_read_or_too_short_stops_the_start(
        tmp_path: Path, mode: int, text: str, message: str) -> None:
    key = tmp_path / "relay.key"
    key.write_text(text)
    key.chmod(mode)
    (tmp_path / "corral.toml").write_text(
        f'[[auth.relays]]\nname = "login1"\nkey_file = "{key}"\n')

    async def main() -> None:
        cfg = load_config(str(tmp_path))
        engine = make_engine(cfg.database_url)
        migrate(engine)
        ctl = Controller(cfg, engine)
        await ctl.start()
        try:
            with pytest.raises(CorralError) as e:
                create_app(ctl)
            assert str(e.value) == f"auth.relays login1: key_file: {key} {message}"
        finally:
            await ctl.stop()
            engine.dispose()
    asyncio.run(main())


@pytest.mark.parametrize(("entry", "message"), [
    ('hosts = ["10.0.0.300"]', "'10.0.0.300' is not an address or a network"),
    ("min_uid = 5000\nmax_uid = 4000", "min_uid 5000 is over max_uid 4000"),
    ('max_role = "root"', "auth.relays.0.max_role"),
    ('name = "a b"', "auth.relays.0.name"),
])
def test_bad_relay_settings_are_named(tmp_path: Path, entry: str, message: str) -> None:
    lines = {"name": 'name = "login1"', "key_file": 'key_file = "/nonexistent"'}
    key = entry.split(" ", maxsplit=1)[0]
    body = "\n".join([*(v for k, v in lines.items() if k != key), entry])
    (tmp_path / "corral.toml").write_text(f"[[auth.relays]]\n{body}\n")
    with pytest.raises(InvalidRequest) as e:
        load_config(str(tmp_path))
    assert message in str(e.value)
