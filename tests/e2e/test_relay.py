"""The login host's relay (corral-relay) against a real controller on the loopback,
over TLS: a caller cannot make it speak for anyone but the uid the kernel gives; it
does not relay the agents' endpoints; a controller it cannot reach is one line; it
refuses to start with a key others may read, a short key, or a plain-http controller
on another host. (The whole login-host story, across network namespaces:
tests/e2e/test_netns_login.py.)"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.client.transport import Transport
from corral.model.errors import Unauthenticated
from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.oidc_site import self_signed
from tests.e2e.users import UnixUser, ensure_user, run_as, user_pythonpath
from tests.oidc import free_port

KEY = "loopback-relay-key-0123456789"
WAIT_S = 20.0


@dataclass
class Site:
    cluster: Cluster
    root: Path
    url: str
    cert: Path
    key_file: Path
    socket: Path
    users: dict[str, UnixUser]
    pythonpath: str

    def as_user(self, who: str, *argv: str, socket: Path | None = None
                ) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "CORRAL_SOCKET": str(socket or self.socket)}
        return run_as(self.users[who], list(argv), env, self.pythonpath, timeout=WAIT_S * 2)


def start_relay(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    log = open(root / "relay.log", "ab")  # noqa: SIM115 - the relay's, closed with it
    try:
        return subprocess.Popen([sys.executable, "-m", "corral.relay", *args], env=env,
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def wait_socket(path: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.is_socket():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="corral-relay-"))
    root.chmod(0o755)
    users = {"a": ensure_user("corraltesta", root), "b": ensure_user("corraltestb", root)}
    pythonpath = user_pythonpath(root)
    cert, key = self_signed(root)
    key_file = root / "relay.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    port = free_port()
    cluster = make_cluster(root, controller_config=(
        f'listen = "127.0.0.1:{port}"\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'),
        extra_config=f'[[auth.relays]]\nname = "lo"\nkey_file = "{key_file}"\n'
                     f'hosts = ["127.0.0.0/8"]\n')
    url = f"https://127.0.0.1:{port}"
    sock = root / "run" / "corral.sock"
    relay = start_relay(root, cluster.env, "--controller", url, "--name", "lo", "--key-file",
                        str(key_file), "--socket", str(sock), "--ca-file", str(cert))
    try:
        wait_socket(sock, relay, root / "relay.log")
        yield Site(cluster, root, url, cert, key_file, sock, users, pythonpath)
    finally:
        stop(relay)
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


# as the user: a request on the relay's socket with headers naming someone else
IMPERSONATE = """
import json, sys
from corral.client.transport import Transport
t = Transport(sys.argv[1])
other = {"X-Corral-Relay-Uid": sys.argv[2], "X-Corral-Relay": "lo",
         "X-Corral-Relay-Key": "guessed-key-0123456789", "Authorization": "Bearer junk",
         "X-Corral-Cluster-Key": "guessed"}
print(json.dumps(t.request("GET", "/v1/whoami", headers=other)))
try:
    t.request("POST", "/agent/v1/register", body={"node": "evil", "cpus": 1,
              "mem_mb": 1, "boot_id": "x"}, headers=other)
except Exception as e:
    print(type(e).__name__, e)
"""


def test_a_caller_is_who_the_kernel_says_whatever_it_sends(site: Site) -> None:
    a, b = site.users["a"], site.users["b"]
    p = site.as_user("a", "-c", IMPERSONATE, f"unix://{site.socket}", str(b.uid))
    assert p.returncode == 0, p.stderr
    who, agent = p.stdout.splitlines()
    assert f'"user": "corraltesta", "uid": {a.uid}' in who and '"relay": "lo"' in who, who
    assert agent == "PermissionDenied relay lo: the agent endpoints are not relayed", agent
    with site.cluster.client() as c:
        assert "evil" not in c.status()["nodes"]

    p = site.as_user("a", "-m", "corral.cli", "submit", "--parsable", "-H", "--wrap", "true")
    assert p.returncode == 0, p.stderr
    job = site.cluster.show(int(p.stdout))
    assert (job["user"], job["uid"], job["state"]) == ("corraltesta", a.uid, "HELD")
    p = site.as_user("b", "-m", "corral.compat.slurm.scancel", str(job["id"]))
    assert p.returncode == 1 and "needs operator" in p.stderr, p.stderr
    p = site.as_user("a", "-m", "corral.compat.slurm.scancel", str(job["id"]))
    assert p.returncode == 0, p.stderr


def test_a_controller_the_relay_cannot_reach_is_one_line(site: Site) -> None:
    sock = site.root / "down" / "corral.sock"
    dead = f"https://127.0.0.1:{free_port()}"
    relay = start_relay(site.root, site.cluster.env, "--controller", dead, "--name", "lo",
                        "--key-file", str(site.key_file), "--socket", str(sock))
    try:
        wait_socket(sock, relay, site.root / "relay.log")
        p = site.as_user("a", "-m", "corral.cli", "jobs", socket=sock)
        assert p.returncode == 1, p.stderr
        assert p.stderr.startswith(f"corral jobs: error: relay lo: cannot reach the "
                                   f"controller at {dead}"), p.stderr
        assert len(p.stderr.splitlines()) == 1, p.stderr
    finally:
        stop(relay)


@pytest.mark.parametrize(("setup", "message"), [
    ("mode", "may be read by other users (mode 0640): make it 0600"),
    ("short", "holds 5 bytes, fewer than the 16 a key needs"),
    ("plain", "--controller: needs https://HOST:PORT (http:// only to the loopback), "
              "got 'http://192.0.2.1:6817'"),
])
def test_the_relay_refuses_a_key_others_read_a_short_key_or_plain_http(
        tmp_path: Path, setup: str, message: str) -> None:
    key = tmp_path / "relay.key"
    key.write_text("short" if setup == "short" else KEY)
    key.chmod(0o640 if setup == "mode" else 0o600)
    url = "http://192.0.2.1:6817" if setup == "plain" else "https://127.0.0.1:1"
    p = subprocess.run([sys.executable, "-m", "corral.relay", "--controller", url,
                        "--key-file", str(key), "--socket", str(tmp_path / "s.sock")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert message in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert not (tmp_path / "s.sock").exists()


def test_an_answer_over_tcp_is_not_held_back_by_delayed_acknowledgements(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller's TCP connections are TCP_NODELAY (api/peercred.py): an answer
    written as a head then a body is not held 40 ms for the client's delayed ACK.
    Before, every request over TCP (a relay's, a token's, an agent's) took >= 40 ms."""
    monkeypatch.setenv("CORRAL_CA_FILE", str(site.cert))
    t = Transport(site.url)
    took = []
    try:
        for _ in range(15):
            started = time.perf_counter()
            with pytest.raises(Unauthenticated, match="remote users need a token"):
                t.request("GET", "/v1/whoami")
            took.append(time.perf_counter() - started)
    finally:
        t.close()
    assert statistics.median(took) < 0.030, took
