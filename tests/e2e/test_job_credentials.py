"""Credentials that follow long jobs, for real: a controller on TLS taking tokens
from a real OpenID provider whose access tokens live TTL_S seconds (and whose
refresh tokens rotate), a root agent, a Unix user who logs in with the device flow
and submits `--credential` jobs with `corral submit`. The job itself checks, every
second for more than three lifetimes, that the token in its file is unexpired (it
decodes the JWT's exp), the file's mode and owner; then the user revokes the
session (`corral logout --revoke`) and the next job's token is renewed no more."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.oidc_site import oidc_site
from tests.e2e.test_remote_login import corral, login
from tests.e2e.users import UnixUser
from tests.oidc import Provider

pytestmark = pytest.mark.slow  # the jobs outlive several token lifetimes

USER = "crl-cred"
TTL_S = 10
CHECK = """#!/usr/bin/python3
#CORRAL -t 5:00
# Reads the job's token every second for SECONDS s (or, with STOP_EXPIRED, until it
# has expired): its expiry, subject, the file's mode and owner.
import base64, json, os, sys, time
path = os.environ["CORRAL_CREDENTIAL_FILE"]
assert os.environ["BEARER_TOKEN_FILE"] == path
print("file", path, flush=True)
end, seen = time.time() + float(sys.argv[1]), []
while time.time() < end:
    st = os.stat(path)
    with open(path) as f:
        token = f.read().strip()
    body = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    left = claims["exp"] - time.time()
    if token not in seen:
        seen.append(token)
    print(json.dumps({"left_s": round(left, 2), "sub": claims["sub"], "uid": st.st_uid,
                      "mode": oct(st.st_mode & 0o777), "token": len(seen)}), flush=True)
    if left <= 0 and len(sys.argv) > 2:
        print("expired", flush=True)
        break
    time.sleep(1)
print("tokens", len(seen), flush=True)
"""


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    with oidc_site("corral-cred-", (USER,), lambda root, _port: Provider(
            root, {USER: {"groups": []}}, access_token_ttl_s=TTL_S),
            cluster_key="credentials-test-cluster-key-0123", tls=True,
            extra_config="\n[credentials]\nrenew_before_s = 60\n") as s:
        yield {"cluster": s.cluster, "provider": s.provider, "user": s.users[USER],
               "env": s.remote_env(), "root": s.root}


def checks(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_long_job_reads_a_valid_token_at_every_check(site: dict[str, Any]) -> None:
    env, cluster, root = site["env"], site["cluster"], site["root"]
    u: UnixUser = site["user"]
    login(env, site["provider"], USER)
    script = root / "check.py"
    script.write_text(CHECK)

    # more than three lifetimes
    seconds = 3 * TTL_S + 6
    r = corral(env, "submit", "--parsable", "--credential", "-D", str(u.home), "-o",
               "long.out", str(script), str(seconds))
    assert r.returncode == 0, r.stderr
    long_id = int(r.stdout.strip())
    cache = json.loads((root / "remote-config" / "corral" / "tokens.json").read_text())
    entry = next(iter(cache.values()))
    assert "refresh_token" not in entry and set(entry["credential"]) == {"id", "handle"}

    job = cluster.wait(long_id, timeout_s=seconds + 30)
    out = (u.home / "long.out").read_text()
    assert job["state"] == "COMPLETED", out
    seen = checks(out)
    assert len(seen) >= seconds - 3, out
    assert all(c["left_s"] > 0 for c in seen), out  # valid at every check
    assert all((c["sub"], c["uid"], c["mode"]) == (USER, u.uid, "0o600") for c in seen), out
    assert seen[-1]["token"] >= 4, out  # renewed at least three times
    path = Path(re.search(r"^file (\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert not path.exists()  # removed at the end

    r = corral(env, "credential", "list")
    assert r.returncode == 0 and f" {USER} " in r.stdout and "eyJ" not in r.stdout, r.stdout

    # the client's own token, once expired, comes from the controller by its handle
    cache_file = root / "remote-config" / "corral" / "tokens.json"
    cache_file.write_text(re.sub(r'"expires_at": [0-9.]+', '"expires_at": 1',
                                 cache_file.read_text()))
    r = corral(env, "whoami")
    assert r.returncode == 0 and r.stdout.startswith(USER), r.stderr

    # a revoked session: the running job's token is renewed no more
    (root / "stop.py").write_text(CHECK.replace("#CORRAL -t 5:00",
                                                "#CORRAL -t 5:00\n#CORRAL --credential"))
    r = corral(env, "submit", "--parsable", "-D", str(u.home), "-o", "revoked.out",
               str(root / "stop.py"), str(3 * TTL_S), "stop-when-expired")
    assert r.returncode == 0, r.stderr
    short_id = int(r.stdout.strip())
    assert cluster.wait_state(short_id, {"RUNNING"}, timeout_s=30)["state"] == "RUNNING"
    deadline = time.monotonic() + 10
    while not checks((u.home / "revoked.out").read_text() if (
            u.home / "revoked.out").exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    r = corral(env, "logout", "--revoke")
    assert r.returncode == 0 and "Revoked" in r.stdout, r.stderr + r.stdout
    job = cluster.wait(short_id, timeout_s=3 * TTL_S + 30)
    out = (u.home / "revoked.out").read_text()
    assert "expired" in out and checks(out)[-1]["token"] == 1, out
    events = cluster.corral("events", str(short_id)).stdout
    assert "credential" in events and "revoked by its client" in events, events
