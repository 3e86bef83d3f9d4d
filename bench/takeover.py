"""Take-over time: how long after `kill -9` of the leading controller a follower
serves, and the longest a client's submit waited meanwhile.

Starts two controllers on one PostgreSQL schema (CORRAL_TEST_PG_URL, default the
local `test` database) and agents given both addresses, with clients submitting
without pause through both controllers' sockets. Each trial kills the leader with
SIGKILL, measures until the follower serves (`status` answered, the store naming
it leader) and until the clients' first submit after the kill is acknowledged,
then starts the killed controller again (it follows) for the next.

    python bench/takeover.py [--trials 10] [--lease-s 5] [--clients 3] [--agents 2]
        [--netns]       each controller in a network namespace of its own (root)
        [--queue 20000] that many held jobs in the queue besides (what a load costs)
        [--cold]        warm_standby = false: the follower loads the queue at take-over
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

from tests.e2e.ha import HA, PG_URL, Ctl, ha_cluster  # noqa: E402
from tests.e2e.test_netns import network  # noqa: E402
from tests.e2e.test_netns_takeover import relay  # noqa: E402

from corral.model.errors import CorralError  # noqa: E402


class Client:
    """Submits `true` jobs one after another; notes when each was acknowledged."""

    def __init__(self, ha: HA) -> None:
        self.ha = ha
        self.acks: list[tuple[float, float, int]] = []  # (sent, acknowledged, id)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.ha.client(timeout_s=30) as c:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    job = c.submit(name="b", working_dir="/tmp", argv=["true"],
                                   stdout="/dev/null")
                    self.acks.append((t0, time.monotonic(), job))
                except CorralError as e:
                    self.errors.append(str(e))
                self._stop.wait(0.05)

    def first_ack_after(self, t: float, deadline_s: float = 60) -> float:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            later = [a for s, a, _ in self.acks if s >= t]
            if later:
                return min(later)
            time.sleep(0.01)
        raise RuntimeError("no submit acknowledged after the kill")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(40)


def wait_follower(ha: HA, ctl: Ctl, *, warm: bool, timeout_s: float = 300) -> None:
    """Until `ctl` follows (`warm`: with its copy of the queue loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            e = ha.controllers()
        except CorralError:
            e = {"controllers": [], "last_seq": 0}
        if any(m["address"] == ctl.url and m["role"] == "follower"
               and m["heartbeat_s_ago"] < 1
               and (not warm or m["applied_seq"] or not e["last_seq"])
               for m in e["controllers"]):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{ctl.url} did not come back as a follower")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--lease-s", type=float, default=5.0,
                    help="controller.leader_lease_s (default: the configuration's)")
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--agents", type=int, default=1)
    ap.add_argument("--netns", action="store_true")
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:  # (left in reverse: the cluster first)
        where: list[tuple[str, str | None]] = [("127.0.0.1", None)] * 2
        pg_url = PG_URL
        if args.netns:  # PostgreSQL through a relay on the bridge
            net = stack.enter_context(network(("ca", "cb")))
            pg = urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
            port = stack.enter_context(relay(net.host_ip, (pg.hostname or "127.0.0.1",
                                                           pg.port or 5432)))
            pg_url = PG_URL.replace(f"{pg.hostname}:{pg.port or 5432}",
                                    f"{net.host_ip}:{port}")
            where = [(net.node_ip[n], net.namespaces[n]) for n in ("ca", "cb")]
        ha = stack.enter_context(ha_cluster())
        ha.pg_url = pg_url
        run(ha, args, where)


def run(ha: HA, args: argparse.Namespace, where: list[tuple[str, str | None]]) -> None:
    serve_s: list[float] = []
    client_s: list[float] = []
    load_s: list[float] = []
    extra = "warm_standby = false" if args.cold else ""
    for ip, ns in where:
        ha.add_controller(lease_s=args.lease_s, ip=ip, ns=ns, extra=extra)
    ha.leader(timeout_s=60)
    for i in range(args.agents):
        ha.add_agent(f"n{i + 1}", cpus=8)
    ha.wait_nodes({f"n{i + 1}" for i in range(args.agents)})
    if args.queue:
        with ha.client(timeout_s=600) as c:
            c.submit_batch([{"name": "q", "working_dir": "/tmp", "argv": ["true"],
                             "hold": True} for _ in range(args.queue)])
    clients = [Client(ha) for _ in range(args.clients)]
    try:
        for trial in range(args.trials):
            old = ha.leader()
            other = next(c for c in ha.ctls if c is not old)
            wait_follower(ha, other, warm=not args.cold)
            time.sleep(0.5)  # (a steady state: submits flowing)
            t_kill = time.monotonic()
            assert old.proc is not None
            os.kill(old.proc.pid, signal.SIGKILL)
            old.proc.wait(10)
            new = ha.leader(timeout_s=60)
            t_serve = time.monotonic() - t_kill
            t_client = max(c.first_ack_after(t_kill) for c in clients) - t_kill
            serve_s.append(t_serve)
            client_s.append(t_client)
            loaded = re.findall(r"state loaded in ([0-9.]+) s \((warm|from the store)", new.log())
            load_s.append(float(loaded[-1][0]) if loaded else float("nan"))
            how = loaded[-1][1] if loaded else "?"
            print(f"trial {trial + 1:2d}: {new.url} leads {t_serve:5.2f} s after the "
                  f"kill (its state loaded in {load_s[-1]:.2f} s, {how}); the "
                  f"clients' first submits after it answered by {t_client:5.2f} s",
                  flush=True)
            if t_serve > 2 * args.lease_s + 2:  # slow: say what the controllers did
                for c in (old, new):
                    print(f"  --- {c.url} ---")
                    print("\n".join("  " + line for line in c.log().splitlines()[-12:]))
            ha.start(old)  # back as a follower
    finally:
        for cl in clients:
            cl.stop()
    acks = [j for cl in clients for _, _, j in cl.acks]
    errors = [e for cl in clients for e in cl.errors]
    with ha.client() as c:
        lost = [j for j in acks if c.job(j)["state"] not in
                ("COMPLETED", "PENDING", "RUNNING")]
    print(f"\nlease {args.lease_s:g} s, {args.trials} trials, {args.clients} client(s), "
          f"{args.agents} agent(s){', in network namespaces' if args.netns else ''}, "
          f"{args.queue} held jobs besides, {'cold' if args.cold else 'warm'} standby")
    print(f"take-over (kill -9 -> the follower serves): median "
          f"{statistics.median(serve_s):.2f} s, worst {max(serve_s):.2f} s, best "
          f"{min(serve_s):.2f} s")
    print(f"of which loading the state: median {statistics.median(load_s):.2f} s, worst "
          f"{max(load_s):.2f} s")
    print(f"client (kill -9 -> first submit acknowledged): median "
          f"{statistics.median(client_s):.2f} s, worst {max(client_s):.2f} s")
    print(f"submits acknowledged: {len(acks)}, refused: {len(errors)}, "
          f"acknowledged but not found or not well: {len(lost)}")
    for e in sorted(set(errors))[:5]:
        print("  refused:", e)


if __name__ == "__main__":
    main()
