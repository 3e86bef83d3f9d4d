"""Users on a login host, in network namespaces: the controller on this host serves
TLS on a bridge, an agent runs in a "node" namespace, and a "login" namespace is the
login host.

(a) A user signs in there with the device flow (the test plays the browser against
the real OpenID provider's pages), submits with `corral submit` and with `sbatch`,
and the jobs run on the node under the user's uid.
(b) The login host's relay (corral-relay, on /run/corral/corral.sock, the path every
client tries when nothing is set) lets its Unix users run sbatch, squeue, scancel,
srun and salloc with no token and no setting: each acts as the caller the kernel
names, within what a user may, and the audit trail names the relay. Root there is
nobody special.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.oidc_site import issuer_config, self_signed
from tests.e2e.test_netns import Net, network
from tests.e2e.users import UnixUser, ensure_user, run_as, user_pythonpath
from tests.oidc import Provider

HOSTS = ("login", "nsnode")
KEY = "login-relay-test-key-0123456789"
CLUSTER_KEY = "netns-login-cluster-key-0123"
REMOTE = "crl-remote"  # signs in with the device flow
WAIT_S = 30.0


@dataclass
class Site:
    net: Net
    cluster: Cluster
    provider: Provider
    root: Path
    url: str
    cert: Path
    relay: subprocess.Popen[bytes]
    users: dict[str, UnixUser]
    pythonpath: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def login_ns(self) -> str:
        return self.net.namespaces["login"]

    def as_user(self, who: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
        """`python3 -m …` on the login host as a Unix user (None: root) with nothing
        set: no CORRAL_* variable, no token; it finds the relay's socket itself."""
        home = self.users[who].home if who else self.root / "root-home"
        prefix = ("nsenter", f"--target={self.relay.pid}", "--mount", "--net",
                  f"--wd={home}", "--")  # (joining a mount namespace starts at /)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if who is None:
            env["PYTHONPATH"] = self.pythonpath
            env["HOME"] = str(self.root / "root-home")
        return run_as(self.users[who] if who else None, list(argv), env, self.pythonpath,
                      prefix=prefix, timeout=WAIT_S * 2)

    def remote(self, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
        """A command on the login host with the remote user's login (over https)."""
        p = subprocess.run(["ip", "netns", "exec", self.login_ns, *argv], env=env,
                           capture_output=True, text=True, timeout=WAIT_S * 2)
        assert "Traceback" not in p.stderr, p.stderr
        return p


def _ready(proc: subprocess.Popen[bytes], what: str, log: Path | None = None) -> None:
    """Wait (bounded) for the process's "ready" line on stdout."""
    assert proc.stdout is not None
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0] \
                and proc.stdout.readline().strip() == b"ready":
            return
        assert proc.poll() is None, f"{what} exited: {log.read_text() if log else ''}"
    raise AssertionError(f"{what} did not start")


def _forward(ns: str | None, listen: str, port: int, target: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.e2e.portforward", listen, str(port), target, str(port)]
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd] if ns else cmd, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    _ready(proc, "the port forwarder")
    return proc


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _host(ns: str) -> list[str]:
    """Runs a command as on another host: in network namespace `ns`, with a /run of
    its own (where the relay's default socket is), after printing "ready"."""
    return ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
            "sh", "-c", 'mount -t tmpfs -o mode=0755 corral-run /run && echo ready && '
                        'exec "$@"', "sh"]


def _relay(site_root: Path, name: str, url: str, cert: Path, prefix: list[str],
           env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Host `name`'s relay (its key: relay-NAME.key), started by `prefix`; returns once
    it serves."""
    log = site_root / f"relay-{name}.log"
    relay = subprocess.Popen(
        [*prefix, sys.executable, "-m", "corral.relay", "--controller", url, "--name", name,
         "--key-file", str(site_root / f"relay-{name}.key"), "--ca-file", str(cert),
         "--log-file", str(log)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        if prefix[0] == "ip":
            _ready(relay, f"the relay of {name}")
        deadline = time.monotonic() + WAIT_S
        while f"relay {name} up" not in (log.read_text() if log.exists() else ""):
            assert relay.poll() is None and time.monotonic() < deadline, \
                log.read_text() if log.exists() else "no relay log"
            time.sleep(0.05)
    except BaseException:
        _stop(relay)
        raise
    return relay


def _config(site_root: Path, net: Net, port: int, cert: Path, key: Path,
            provider: Provider) -> tuple[str, str]:
    for host in HOSTS:
        relay_key = site_root / f"relay-{host}.key"
        relay_key.write_text(f"{KEY}-{host}\n")
        relay_key.chmod(0o600)
    controller = (f'listen = "{net.host_ip}:{port}"\ncluster_key = "{CLUSTER_KEY}"\n'
                  f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n')
    extra = issuer_config(provider) + f"""
[[auth.relays]]
name = "login"
key_file = "{site_root / 'relay-login.key'}"
hosts = ["{net.node_ip['login']}"]

[[auth.relays]]
name = "nsnode"
key_file = "{site_root / 'relay-nsnode.key'}"
hosts = ["{net.node_ip['nsnode']}"]
"""
    return controller, extra


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with network(HOSTS) as net, contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="corral-login-"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        root.chmod(0o755)
        users = {"remote": ensure_user(REMOTE, root), "a": ensure_user("corraltesta", root),
                 "b": ensure_user("corraltestb", root)}
        pythonpath = user_pythonpath(root)
        (root / "root-home").mkdir()
        provider = Provider(root, {REMOTE: {"groups": ["hpc"]}})
        provider.start()
        stack.callback(provider.stop)
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(lambda: [_stop(p) for p in reversed(procs)])
        # the provider's loopback URL reaches it from the login host too
        procs.append(_forward(None, net.host_ip, provider.port, "127.0.0.1"))
        procs.append(_forward(net.namespaces["login"], "127.0.0.1", provider.port,
                              net.host_ip))
        cert, key = self_signed(root, ips=("127.0.0.1", net.host_ip))
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 20000
        controller, extra = _config(root, net, port, cert, key, provider)
        cluster = make_cluster(root, controller_config=controller, extra_config=extra)
        stack.callback(cluster.down)
        url = f"https://{net.host_ip}:{port}"
        env = {**cluster.env, "CORRAL_CA_FILE": str(cert)}
        # the node: its agent, and a relay for its jobs' own commands (srun, squeue
        # in a batch script), in the same /run
        agent = cluster.start_agent("nsnode", controller=url, cluster_key=CLUSTER_KEY,
                                    args=("--no-cgroups",), prefix=_host(net.namespaces["nsnode"]),
                                    env=env, ready_line=True)
        _ready(agent, "the node's agent")
        cluster.wait_idle("nsnode", timeout_s=WAIT_S)
        with cluster.client() as c:
            c.drain("node1", "the jobs of these tests run on the namespaced node")
        relay_env = {k: v for k, v in cluster.env.items() if k != "CORRAL_STATE_DIR"}
        procs.append(_relay(root, "nsnode", url, cert, [
            "nsenter", f"--target={agent.pid}", "--mount", "--net", "--"], relay_env))
        # the login host's relay
        relay = _relay(root, "login", url, cert, _host(net.namespaces["login"]), relay_env)
        procs.append(relay)
        yield Site(net, cluster, provider, root, url, cert, relay, users, pythonpath, procs)


def _login(site: Site, env: dict[str, str]) -> str:
    """`corral login` on the login host; the test reads the code and signs in as the
    remote user on the provider's pages (the browser may be anywhere)."""
    proc = subprocess.Popen(["ip", "netns", "exec", site.login_ns, sys.executable, "-m",
                             "corral.cli", "login"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"open (\S+) and enter the code (\S+)", first)
        assert m is not None, first + (proc.stderr.read() if proc.stderr else "")
        site.provider.approve(m.group(1), m.group(2), REMOTE)
        out, err = proc.communicate(timeout=WAIT_S * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and "Traceback" not in err, (out, err)
    return first + out


def test_a_user_signs_in_on_the_login_host_and_jobs_run_as_them_on_a_node(site: Site) -> None:
    u = site.users["remote"]
    env = {k: v for k, v in site.cluster.env.items() if k != "CORRAL_STATE_DIR"}
    env.update(CORRAL_URL=site.url, CORRAL_CA_FILE=str(site.cert),
               XDG_CONFIG_HOME=str(site.root / "remote-config"))
    out = _login(site, env)
    assert f"Logged in to {site.url} as {REMOTE} (uid {u.uid})" in out, out

    p = site.remote(env, sys.executable, "-m", "corral.cli", "submit", "--parsable", "-D",
                    str(u.home), "-o", "corral.out", "--wrap", "id -u")
    assert p.returncode == 0, p.stderr
    job = site.cluster.wait(int(p.stdout.strip()), timeout_s=WAIT_S)
    assert (job["state"], job["uid"], job["node_list"]) == ("COMPLETED", u.uid, ["nsnode"])
    assert (u.home / "corral.out").read_text().strip() == str(u.uid)

    bin_dir = site.root / "remote-bin"
    assert site.remote(env, sys.executable, "-m", "corral.cli", "compat", "install",
                       str(bin_dir)).returncode == 0
    p = site.remote(env, str(bin_dir / "sbatch"), "--parsable", "-D", str(u.home), "-o",
                    "sbatch.out", "--wrap", "id -u")
    assert p.returncode == 0, p.stderr
    job = site.cluster.wait(int(p.stdout.strip().split(";")[0]), timeout_s=WAIT_S)
    assert (job["state"], job["uid"], job["node_list"]) == ("COMPLETED", u.uid, ["nsnode"])
    assert (u.home / "sbatch.out").read_text().strip() == str(u.uid)


def _audit(site: Site, *args: str) -> list[dict[str, Any]]:
    out = site.cluster.corral("audit", "--json", *args).stdout
    entries: list[dict[str, Any]] = json.loads(out)["entries"]
    return entries


def test_the_relay_lets_local_users_run_slurm_commands_as_themselves(site: Site) -> None:
    a = site.users["a"]
    sbatch, squeue = "corral.compat.slurm.sbatch", "corral.compat.slurm.squeue"
    scancel, srun = "corral.compat.slurm.scancel", "corral.compat.slurm.srun"

    p = site.as_user("a", "-m", "corral.cli", "whoami")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"corraltesta (uid {a.uid}, gid {a.gid}), user, through "
                               f"the relay login"), p.stdout

    p = site.as_user("a", "-m", sbatch, "--parsable", "-o", "relay-%j.out", "--wrap", "id -u")
    assert p.returncode == 0, p.stderr
    done = int(p.stdout.strip())
    job = site.cluster.wait(done, timeout_s=WAIT_S)
    assert (job["state"], job["uid"], job["node_list"]) == ("COMPLETED", a.uid, ["nsnode"]), job
    assert (a.home / f"relay-{done}.out").read_text().strip() == str(a.uid)

    p = site.as_user("a", "-m", sbatch, "--parsable", "--hold", "--wrap", "sleep 600")
    mine = int(p.stdout.strip())
    p = site.as_user("b", "-m", sbatch, "--parsable", "--hold", "--wrap", "sleep 600")
    theirs = int(p.stdout.strip())

    p = site.as_user("a", "-m", squeue, "-h", "-t", "all", "-o", "%i %u")
    assert p.returncode == 0, p.stderr
    rows = set(p.stdout.split("\n"))
    assert {f"{done} corraltesta", f"{mine} corraltesta", f"{theirs} corraltestb"} <= rows

    p = site.as_user("a", "-m", scancel, str(theirs))  # another user's job: refused
    assert p.returncode == 1 and f"cancel job {theirs} of corraltestb: needs operator" \
        in p.stderr, p.stderr
    assert site.cluster.show(theirs)["state"] == "HELD"
    p = site.as_user("a", "-m", scancel, str(mine))
    assert p.returncode == 0, p.stderr
    job = site.cluster.show(mine)
    assert (job["state"], job["cancelled_by_uid"]) == ("CANCELLED", a.uid)
    assert site.as_user("b", "-m", scancel, str(theirs)).returncode == 0

    # srun from the login host: an allocation on the node, a step whose output the
    # node streams back to srun on the login host
    p = site.as_user("a", "-m", srun, "-l", "sh", "-c", "echo $(id -u) $SLURMD_NODENAME")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"0: {a.uid} nsnode", (p.stdout, p.stderr)
    # a batch script's own srun and squeue, through the node's relay
    script = ("#!/bin/sh\n#SBATCH -o inside-%j.out\n"
              f"/usr/bin/python3 -m {srun} sh -c 'echo step $(id -u) $SLURMD_NODENAME'\n"
              f"/usr/bin/python3 -m {squeue} -h -j $SLURM_JOB_ID -o '%u %T'\n")
    (a.home / "inside.sh").write_text(script)
    p = site.as_user("a", "-m", sbatch, "--parsable", "inside.sh")
    assert p.returncode == 0, p.stderr
    inside = int(p.stdout.strip())
    job = site.cluster.wait(inside, timeout_s=WAIT_S)
    text = (a.home / f"inside-{inside}.out").read_text()
    assert job["state"] == "COMPLETED", (job, text)
    assert text.splitlines() == [f"step {a.uid} nsnode", "corraltesta RUNNING"], text

    # salloc: its command runs on the login host, and an srun in it reaches the node
    p = site.as_user("a", "-m", "corral.compat.slurm.salloc", "-N", "1", "/usr/bin/python3",
                     "-m", srun, "sh", "-c", "echo in $SLURM_JOB_ID as $(id -u)")
    assert p.returncode == 0, p.stderr
    granted = re.search(r"Granted job allocation (\d+)", p.stderr)
    assert granted is not None, p.stderr
    assert p.stdout.strip() == f"in {granted.group(1)} as {a.uid}", (p.stdout, p.stderr)

    # root on the login host is not root on the cluster: the relay may speak only for
    # uids from 1000 (auth.relays' min_uid)
    p = site.as_user(None, "-m", "corral.cli", "whoami")
    assert p.returncode == 1 and "relay login may not speak for uid 0" in p.stderr, p.stderr

    origin = f"relay login at {site.net.node_ip['login']}:"
    entries = _audit(site, "--user", "corraltesta")
    acts = {(e["action"], e["job_id"], e["status"]) for e in entries}
    assert {("submit", done, 201), ("cancel", theirs, 403), ("cancel", mine, 200)} <= acts
    assert all(e["uid"] == a.uid for e in entries), entries
    from_node = [e for e in entries if e["job_id"] == inside and e["action"] != "submit"]
    assert {e["action"] for e in from_node} == {"step", "end_step"}, from_node
    node_origin = f"relay nsnode at {site.net.node_ip['nsnode']}:"
    assert all(e["origin"].startswith(node_origin) for e in from_node), from_node
    rest = [e for e in entries if e not in from_node]
    assert any(e["action"] == "step" for e in rest), rest
    assert all(e["origin"].startswith(origin) for e in rest), rest
