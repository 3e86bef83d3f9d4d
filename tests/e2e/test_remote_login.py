"""A remote user: a controller serving TLS on a TCP port and taking tokens from a
real OpenID provider; `corral login` (the device flow, the test in the browser's
place), then `corral submit` and the drop-in `sbatch` over https with the cached
token; the jobs run under the uid the token maps to."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.client import Client
from tests.e2e.cluster import Cluster
from tests.e2e.oidc_site import oidc_site
from tests.e2e.users import UnixUser
from tests.oidc import SERVICE_ID, SERVICE_SECRET, Provider

USER = "crl-remote"
CLUSTER_KEY = "tls-test-cluster-key-0123"


@pytest.fixture
def remote() -> Iterator[dict[str, Any]]:
    with oidc_site("corral-tls-", (USER,),
                   lambda root, _port: Provider(root, {USER: {"groups": ["hpc"]}}),
                   cluster_key=CLUSTER_KEY, tls=True,
                   issuer_extra=f'[auth.issuers.clients]\n{SERVICE_ID} = "{USER}"\n') as s:
        env = {**s.remote_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        yield {"cluster": s.cluster, "provider": s.provider, "user": s.users[USER],
               "env": env, "root": s.root, "url": s.url, "cert": s.cert}


def corral(env: dict[str, str], *args: str, cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "corral.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def login(env: dict[str, str], provider: Provider, user: str) -> str:
    """`corral login` as a subprocess; the test reads the code it prints and signs
    in on the provider's pages -> its output."""
    proc = subprocess.Popen([sys.executable, "-m", "corral.cli", "login"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"open (\S+) and enter the code (\S+)", first)
        assert m is not None, first + proc.stderr.read() if proc.stderr else first
        provider.approve(m.group(1), m.group(2), user)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, (out, err)
    return first + out


def test_a_remote_user_logs_in_and_submits_over_tls(remote: dict[str, Any]) -> None:
    env, user, root = remote["env"], remote["user"], remote["root"]
    cluster: Cluster = remote["cluster"]
    provider: Provider = remote["provider"]
    u: UnixUser = user

    r = corral(env, "jobs")  # not logged in: the controller says what to do
    assert r.returncode == 1 and "corral login" in r.stderr, r.stderr
    untrusting = {k: v for k, v in env.items() if k != "CORRAL_CA_FILE"}
    r = corral(untrusting, "jobs")  # a certificate no CA it trusts has signed
    assert r.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in r.stderr, r.stderr
    assert "CORRAL_CA_FILE" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr

    out = login(env, provider, USER)
    assert f"Logged in to {remote['url']} as {USER} (uid {u.uid})" in out, out
    cache = root / "remote-config" / "corral" / "tokens.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    r = corral(env, "whoami")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{USER} (uid {u.uid}, gid {u.gid}), user, token from "
                               f"{provider.issuer}"), r.stdout
    assert "hpc" in r.stdout.split("; groups ")[1]

    r = corral(env, "submit", "--parsable", "-D", str(u.home), "-o", "corral.out",
               "--wrap", "id -u")
    assert r.returncode == 0, r.stderr
    job = cluster.wait(int(r.stdout.strip()))
    assert (job["state"], job["user"], job["uid"]) == ("COMPLETED", USER, u.uid)
    assert (u.home / "corral.out").read_text().strip() == str(u.uid)

    bin_dir = root / "bin"
    r = corral(env, "compat", "install", str(bin_dir))
    assert r.returncode == 0, r.stderr
    path_env = {**env, "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run(["sbatch", "--parsable", "-D", str(u.home), "-o", "sbatch.out",
                           "--wrap", "id -u"], env=path_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    job = cluster.wait(int(proc.stdout.strip().split(";")[0]))
    assert (job["state"], job["uid"]) == ("COMPLETED", u.uid)
    assert (u.home / "sbatch.out").read_text().strip() == str(u.uid)
    proc = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %u"], env=path_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    # an expired access token is renewed with the refresh token, unseen
    data = cache.read_text()
    cache.write_text(re.sub(r'"expires_at": [0-9.]+', '"expires_at": 1', data))
    before = time.time()
    r = corral(env, "whoami")
    assert r.returncode == 0 and r.stdout.startswith(USER), r.stderr
    assert '"expires_at": 1,' not in cache.read_text()
    assert time.time() - before < 30

    # a long-lived SDK client outlives its access token: the controller's "expired"
    # makes it renew the token (with the refresh token) and send the request again
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CORRAL_CA_FILE", "XDG_CONFIG_HOME"):
            mp.setenv(var, env[var])
        with Client(remote["url"]) as client:
            expired = provider.forge({"preferred_username": USER,
                                      "exp": int(time.time()) - 120})
            client.transport.token = expired
            data = cache.read_text()
            cache.write_text(re.sub(r'"expires_at": [0-9.]+', '"expires_at": 1', data))
            assert client.whoami()["user"] == USER
            assert client.transport.token not in (None, expired)
            assert '"expires_at": 1,' not in cache.read_text()

    r = corral(env, "logout")
    assert r.returncode == 0 and "Logged out" in r.stdout, r.stderr
    r = corral(env, "whoami")
    assert r.returncode == 1 and "corral login" in r.stderr, r.stderr


def test_a_service_account_submits_with_client_credentials(remote: dict[str, Any]) -> None:
    env, u = remote["env"], remote["user"]
    cluster: Cluster = remote["cluster"]
    secret = remote["root"] / "ci-secret"
    secret.write_text(SERVICE_SECRET + "\n")
    env = {**env, "CORRAL_CLIENT_ID": SERVICE_ID, "CORRAL_CLIENT_SECRET_FILE": str(secret),
           "XDG_CONFIG_HOME": str(remote["root"] / "ci-config")}
    r = corral(env, "whoami")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{USER} (uid {u.uid}") and f"(subject {SERVICE_ID})" in r.stdout
    r = corral(env, "submit", "--parsable", "-D", str(u.home), "--wrap", "true")
    assert r.returncode == 0, r.stderr
    assert cluster.wait(int(r.stdout.strip()))["state"] == "COMPLETED"
    r = corral({**env, "CORRAL_CLIENT_SECRET_FILE": str(secret) + "-wrong"}, "whoami")
    assert r.returncode == 1 and "ci-secret-wrong" in r.stderr, r.stderr


def test_an_agent_joins_over_tls_with_the_cluster_key(remote: dict[str, Any]) -> None:
    cluster: Cluster = remote["cluster"]
    env = {**cluster.env, "CORRAL_CA_FILE": str(remote["cert"])}
    cluster.start_agent("node2", cpus=1, controller=remote["url"], cluster_key=CLUSTER_KEY,
                        args=("--no-cgroups",), env=env)
    try:
        cluster.wait_idle("node2")
        with cluster.client() as c:
            job_id = c.submit(name="over-tls", working_dir="/tmp", argv=["true"],
                              nodelist=["node2"])
        job = cluster.wait(job_id)
        assert (job["state"], job["node_list"]) == ("COMPLETED", ["node2"]), job
    finally:
        cluster.stop_agents("node2")
