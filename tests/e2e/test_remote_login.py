"""A remote user: a controller serving TLS on a TCP port and taking tokens from a
real OpenID provider; `corral login` (the device flow, the test in the browser's
place), then `corral submit` and the drop-in `sbatch` over https with the cached
token; the jobs run under the uid the token maps to."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from corral.client import Client
from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.users import UnixUser, ensure_user
from tests.oidc import AUDIENCE, CLIENT_ID, SERVICE_ID, SERVICE_SECRET, Provider, free_port

USER = "crl-remote"
CLUSTER_KEY = "tls-test-cluster-key-0123"


def self_signed(directory: Path, ips: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """A certificate for `ips` and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corral test controller")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture
def remote() -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="corral-tls-"))
    root.chmod(0o755)
    user = ensure_user(USER, root)
    provider = Provider(root, {USER: {"groups": ["hpc"]}})
    provider.start()
    cert, key = self_signed(root)
    port = free_port()
    cluster: Cluster | None = None
    try:
        cluster = make_cluster(root, controller_config=f"""
listen = "127.0.0.1:{port}"
cluster_key = "{CLUSTER_KEY}"
tls_cert_file = "{cert}"
tls_key_file = "{key}"
""", extra_config=f"""
[[auth.issuers]]
issuer = "{provider.issuer}"
audience = "{AUDIENCE}"
algorithms = ["ES256"]
client_id = "{CLIENT_ID}"
resource = "{AUDIENCE}"
[auth.issuers.clients]
{SERVICE_ID} = "{USER}"
""")
        env = {k: v for k, v in cluster.env.items() if k != "CORRAL_STATE_DIR"}
        env.update(CORRAL_URL=f"https://127.0.0.1:{port}", CORRAL_CA_FILE=str(cert),
                   XDG_CONFIG_HOME=str(root / "remote-config"),
                   PYTHONPATH=os.environ.get("PYTHONPATH", ""))
        yield {"cluster": cluster, "provider": provider, "user": user, "env": env,
               "root": root, "url": env["CORRAL_URL"], "cert": cert}
    finally:
        if cluster is not None:
            cluster.down()
        provider.stop()
        shutil.rmtree(root, ignore_errors=True)


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
    root: Path = remote["root"]
    env = {**cluster.env, "CORRAL_CA_FILE": str(remote["cert"])}
    log = open(root / "node2.log", "ab")  # noqa: SIM115 - the agent's, closed below
    agent = subprocess.Popen(
        [sys.executable, "-m", "corral.agent.main", "--controller", remote["url"],
         "--cluster-key", CLUSTER_KEY, "--node", "node2", "--cpus", "1", "--no-cgroups",
         "--spool", str(root / "spool-node2")],
        env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        with cluster.client() as c:
            while c.status()["nodes"].get("node2") != "IDLE":
                assert time.monotonic() < deadline, (root / "node2.log").read_text()
                assert agent.poll() is None, (root / "node2.log").read_text()
                time.sleep(0.1)
            job_id = c.submit(name="over-tls", working_dir="/tmp", argv=["true"],
                              nodelist=["node2"])
        job = cluster.wait(job_id)
        assert (job["state"], job["node_list"]) == ("COMPLETED", ["node2"]), job
    finally:
        agent.terminate()
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
