"""corral beside a peer (Slurm), the same figures measured in one run.

Prints one `figure value unit` line per figure and system (`corral.*`, `slurm.*`),
then, with a peer, `ratio.*` lines (corral / peer, or for times peer / corral: a
ratio above 1 is always corral doing better), and with --markdown a table.

    python bench/compare.py                      # corral alone, a few minutes
    python bench/compare.py --peer slurm         # and a running Slurm (see below)
    python bench/compare.py --small              # a quick check of the script itself

The peer is the Slurm that ../shared/peers/slurm/setup.sh starts (Debian's
packages, state in /tmp/wmsbase/slurm); this script sources its env.sh and drives
it with sbatch/squeue/scontrol. Each system gets an empty queue before each group
of figures (corral: a fresh controller and agent; Slurm: scancel, then slurmctld
restarted with cleared state, as the peer harness does).

Controller CPU is user+system time of the controller process (all threads) from
/proc, per submitted job, per full listing and per one-job query; it is much less
sensitive to other load on a shared machine than the wall-clock rates are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")  # every corral process runs this tree

from bench.controller_cpu import Raw  # noqa: E402
from tests.e2e.cluster import FINAL, Cluster, make_cluster  # noqa: E402

from corral.client import Client  # noqa: E402

PY = sys.executable
SLURM_BASE = Path("/tmp/wmsbase/slurm")
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

Results = dict[str, tuple[float, str]]


# ---------------------------------------------------------------- measuring
def cpu_s(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_kb(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB


def run(argv: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> str:
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}…: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def loop_rate(argv: list[str], n: int, env: dict[str, str], cwd: Path,
              loops: int = 1) -> tuple[float, float]:
    """`loops` concurrent loops of `argv`, n runs in all -> (runs/s, child CPU ms/run)."""
    per = max(1, n // loops)
    before = os.times()

    def one() -> None:
        for _ in range(per):
            subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=120)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(loops)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    after = os.times()
    child_s = (after.children_user - before.children_user
               + after.children_system - before.children_system)
    return per * loops / dt, 1000 * child_s / (per * loops)


def alternating(argvs: list[list[str]], n: int, env: dict[str, str],
                cwd: Path) -> list[tuple[float, float]]:
    """Each command once in turn, n rounds, so that all see the same load
    -> per command (runs/s, CPU ms/run)."""
    wall = [0.0] * len(argvs)
    cpu = [0.0] * len(argvs)
    for _ in range(n):
        for k, argv in enumerate(argvs):
            before = os.times()
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True, timeout=120)
            wall[k] += time.perf_counter() - t0
            after = os.times()
            cpu[k] += (after.children_user - before.children_user
                       + after.children_system - before.children_system)
    return [(n / w, 1000 * c / n) for w, c in zip(wall, cpu, strict=True)]


def ctl_cost(pid: int, fn: Callable[[], int]) -> tuple[float, float, int]:
    """Run fn (-> how many operations) -> (operations/s, controller CPU ms each, n)."""
    c0, t0 = cpu_s(pid), time.perf_counter()
    n = fn()
    dt, dc = time.perf_counter() - t0, cpu_s(pid) - c0
    return n / dt, 1000 * dc / max(n, 1), n


def latency_s(system: System, samples: int) -> float:
    """Median time from just before a submit to the job's first instruction."""
    out = []
    for i in range(samples):
        mark = system.work / f"lat{i}-{time.monotonic_ns()}"
        t0 = time.time()
        system.submit_marker(mark)
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name}: a latency job did not start in 60 s")
            time.sleep(0.005)
        out.append(float(mark.read_text().split()[0]) - t0)
        time.sleep(0.3)
    return statistics.median(out)


# ---------------------------------------------------------------- the systems
class System:
    name = ""
    work: Path
    env: dict[str, str]

    def reset(self, cpus: int) -> None: ...
    def ctl_pid(self) -> int: ...
    def submit_held_cmd(self) -> list[str]: ...
    def list_cmd(self) -> list[str]: ...
    def show_cmd(self, job_id: int) -> list[str]: ...
    def fill_held(self, n: int) -> list[int]: ...
    def submit_array(self, n: int) -> None: ...
    def submit_marker(self, mark: Path) -> None: ...
    def release(self, ids: list[int]) -> None: ...
    def active(self) -> int: ...
    def stop(self) -> None: ...
    def describe(self) -> str: ...


class Corral(System):
    name = "corral"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.cluster: Cluster | None = None
        self.n = 0
        self.env = dict(os.environ)
        self.bin = work / "bin"
        self.cpus = 0

    def reset(self, cpus: int) -> None:
        self.stop()
        self.cpus = cpus
        self.n += 1
        root = Path(tempfile.mkdtemp(prefix="cc", dir="/tmp"))
        root.chmod(0o755)
        self.cluster = make_cluster(root, cpus=cpus)
        self.env = self.cluster.env
        shutil.rmtree(self.bin, ignore_errors=True)
        run([PY, "-m", "corral.cli", "compat", "install", str(self.bin)], self.env, self.work)

    def client(self) -> Client:
        assert self.cluster is not None
        return self.cluster.client()

    def ctl_pid(self) -> int:
        assert self.cluster is not None
        return self.cluster.pid("controller")

    def submit_held_cmd(self) -> list[str]:
        return [PY, "-m", "corral.cli", "submit", "--hold", "-o", "/dev/null", "--wrap", "true"]

    def list_cmd(self) -> list[str]:
        return [PY, "-m", "corral.cli", "jobs"]

    def show_cmd(self, job_id: int) -> list[str]:
        return [PY, "-m", "corral.cli", "show", str(job_id)]

    def _req(self, i: int, **extra: Any) -> dict[str, Any]:
        return {"name": f"b{i}", "working_dir": str(self.work), "argv": ["true"],
                "stdout": "/dev/null", **extra}

    def fill_held(self, n: int) -> list[int]:
        with self.client() as c:
            out = c.submit_batch([self._req(i, hold=True) for i in range(n)])
        return [r.id for r in out if r.id is not None]

    def submit_array(self, n: int) -> None:
        run([PY, "-m", "corral.cli", "submit", "--hold", "-a", f"0-{n - 1}", "-o", "/dev/null",
             "--wrap", "true"], self.env, self.work)

    def submit_marker(self, mark: Path) -> None:
        run([PY, "-m", "corral.cli", "submit", "-o", "/dev/null", "--wrap",
             f"date +%s.%N > {mark}"], self.env, self.work)

    def release(self, ids: list[int]) -> None:
        run([PY, "-m", "corral.cli", "release", *map(str, ids)], self.env, self.work)

    def active(self) -> int:
        with self.client() as c:
            return sum(1 for j in c.jobs() if j["state"] not in FINAL)

    def describe(self) -> str:
        from corral import __version__
        return f"corral {__version__}, SQLite, one agent node of {self.cpus} CPUs"

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.down()
            shutil.rmtree(self.cluster.state.parent, ignore_errors=True)
            self.cluster = None


class Slurm(System):
    name = "slurm"

    def __init__(self, work: Path) -> None:
        self.work = work
        env_sh = SLURM_BASE / "env.sh"
        if not env_sh.exists():
            raise SystemExit(f"compare: no Slurm running ({env_sh} missing): start it with "
                             "../shared/peers/slurm/setup.sh")
        conf = env_sh.read_text().split("SLURM_CONF=", 1)[1].split()[0]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        self.env["SLURM_CONF"] = conf
        self.nodes = sum(1 for line in Path(conf).read_text().splitlines()
                         if line.startswith("NodeName="))

    def sh(self, cmd: str, check: bool = True) -> str:
        return run(["bash", "-c", cmd], self.env, self.work, check=check)

    def reset(self, cpus: int) -> None:
        self.sh("scancel -u root", check=False)
        pid = self.ctl_pid()
        os.kill(pid, 15)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        self.sh("slurmctld -c -f \"$SLURM_CONF\"")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            idle = self.sh("sinfo -h -N -t idle -o %N | sort -u | wc -l", check=False)
            if idle.strip().isdigit() and int(idle) >= self.nodes:
                break
            time.sleep(0.2)
        time.sleep(1)

    def ctl_pid(self) -> int:
        return int((SLURM_BASE / "run" / "slurmctld.pid").read_text())

    def submit_held_cmd(self) -> list[str]:
        return ["sbatch", "--hold", "-o", "/dev/null", "--wrap=true"]

    def list_cmd(self) -> list[str]:
        return ["squeue"]

    def show_cmd(self, job_id: int) -> list[str]:
        return ["scontrol", "show", "job", str(job_id)]

    def fill_held(self, n: int) -> list[int]:
        out: list[list[int]] = [[] for _ in range(4)]

        def one(k: int) -> None:
            text = self.sh(f"for i in $(seq {n // 4 + (k < n % 4)}); do "
                           "sbatch --parsable --hold -o /dev/null --wrap=true; done")
            out[k] = [int(x.split(";")[0]) for x in text.split()]

        threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(i for part in out for i in part)

    def submit_array(self, n: int) -> None:
        self.sh(f"sbatch --hold --array=0-{n - 1} -o /dev/null --wrap=true")

    def submit_marker(self, mark: Path) -> None:
        self.sh(f"sbatch -o /dev/null --wrap='date +%s.%N > {mark}'")

    def release(self, ids: list[int]) -> None:
        self.sh("scontrol release " + ",".join(map(str, ids)))

    def active(self) -> int:
        return len(self.sh("squeue -h -o %i").split())

    def stop(self) -> None:
        self.sh("scancel -u root", check=False)

    def describe(self) -> str:
        version = self.sh("sinfo --version", check=False).strip()
        conf = Path(self.env["SLURM_CONF"]).read_text()
        profile = next((line.split(":", 1)[1].strip() for line in conf.splitlines()
                        if line.startswith("# profile:")), "?")
        return f"{version}, profile {profile}, {self.nodes} nodes"


# ---------------------------------------------------------------- the figures
GROUPS = ("cli", "api", "arrays", "latency", "e2e", "reads")


def wanted(a: argparse.Namespace, group: str) -> bool:
    """Is this group of figures selected (--only)?"""
    return not a.only or group in a.only


def groups(text: str) -> list[str]:
    """--only's value: a comma-separated list of GROUPS."""
    names = [g.strip() for g in text.split(",") if g.strip()]
    for g in names:
        if g not in GROUPS:
            raise argparse.ArgumentTypeError(f"--only: unknown group {g!r} (one of "
                                             f"{', '.join(GROUPS)})")
    return names


def figures(s: System, a: argparse.Namespace, r: Results) -> None:
    def put(name: str, value: float, unit: str) -> None:
        r[name] = (value, unit)
        print(f"{s.name}.{name} {value:.4g} {unit}", flush=True)

    def log(what: str) -> None:
        print(f"# {s.name}: {what} (load {os.getloadavg()[0]:.2f})", file=sys.stderr,
              flush=True)

    pw = s.work
    s.reset(cpus=a.cpus)
    print(f"# {s.name}: {s.describe()}", flush=True)
    if wanted(a, "cli"):
        # a. CLI submissions, and bare Python measured in the same run
        log("CLI submissions")
        time.sleep(2)  # a fresh controller and agent settle
        argvs = [[PY, "-c", "pass"], s.submit_held_cmd()]
        names = [("python_c_pass", "runs/s", "ms/run"), ("cli_submit_seq", "jobs/s", "ms/job")]
        if isinstance(s, Corral):  # the drop-in commands, same aim as corral submit
            argvs += [[str(s.bin / "sbatch"), "--hold", "-o", "/dev/null", "--wrap=true"],
                      [str(s.bin / "squeue"), "-j", "1"]]
            names += [("dropin_sbatch_seq", "jobs/s", "ms/job"),
                      ("dropin_squeue_one_job", "calls/s", "ms/call")]
        for (name, unit, cpu_unit), (rate, cpu) in zip(
                names, alternating(argvs, a.cli_jobs, s.env, pw), strict=True):
            put(name, rate, unit)
            put(f"{name}_cpu", cpu, cpu_unit)
        pid = s.ctl_pid()
        c0 = cpu_s(pid)
        loop_rate(s.submit_held_cmd(), a.cli_jobs // 2, s.env, pw)
        put("ctl_cpu_per_cli_submit", 1000 * (cpu_s(pid) - c0) / (a.cli_jobs // 2), "ms/job")
        rate, _ = loop_rate(s.submit_held_cmd(), a.cli_jobs, s.env, pw, loops=4)
        put("cli_submit_4loops", rate, "jobs/s")

    if wanted(a, "api") and isinstance(s, Corral):
        log("API submissions")
        s.reset(cpus=a.cpus)
        pid = s.ctl_pid()
        with s.client() as c:
            def single() -> int:
                for i in range(a.api_jobs):
                    c.submit(**s._req(i, hold=True))
                return a.api_jobs
            rate, cpu, _ = ctl_cost(pid, single)
            put("api_submit_one_client", rate, "jobs/s")
            put("ctl_cpu_per_api_submit", cpu, "ms/job")

            def bulk() -> int:
                out = c.submit_batch([s._req(i, hold=True) for i in range(a.bulk_jobs)])
                assert all(x.ok for x in out), [x.message for x in out if not x.ok][:1]
                return len(out)
            rate, cpu, _ = ctl_cost(pid, bulk)
            put("api_submit_bulk", rate, "jobs/s")
            put("ctl_cpu_per_bulk_submit", cpu, "ms/job")

    if wanted(a, "arrays"):
        # b. arrays
        log("arrays")
        s.reset(cpus=a.cpus)
        t0 = time.perf_counter()
        s.submit_array(a.array_tasks)
        put("array_tasks_accepted", a.array_tasks / (time.perf_counter() - t0), "tasks/s")

    if wanted(a, "latency"):
        # c. latency on an idle node
        log("latency")
        s.reset(cpus=a.cpus)
        put("submit_to_start_idle", 1000 * latency_s(s, a.latency_samples), "ms")

    if wanted(a, "e2e"):
        # d. end-to-end: N held jobs released by one command, until none is active
        log("end-to-end")
        s.reset(cpus=a.cpus)
        ids = s.fill_held(a.e2e_jobs)
        t0 = time.perf_counter()
        s.release(ids)
        deadline = time.monotonic() + a.e2e_cap_s
        while s.active() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = s.active()
        put("e2e_trivial_jobs", (len(ids) - left) / (time.perf_counter() - t0), "jobs/s")

    if not wanted(a, "reads"):
        return
    # e. queries, memory and polling with many pending
    log(f"queries with {a.pending} pending")
    s.reset(cpus=a.cpus)
    pid = s.ctl_pid()
    rss0 = rss_kb(pid)
    ids = s.fill_held(a.pending)
    time.sleep(1)
    put("pending", len(ids), "jobs")
    put("ctl_rss_per_pending_job", (rss_kb(pid) - rss0) * 1024 / max(len(ids), 1), "B/job")
    one = ids[len(ids) // 2]

    def cli(argv: list[str], n: int) -> Callable[[], int]:
        def go() -> int:
            for _ in range(n):
                run(argv, s.env, pw)
            return n
        return go

    rate, cpu, _ = ctl_cost(pid, cli(s.list_cmd(), a.list_calls))
    put("cli_full_listing", rate, "calls/s")
    put("ctl_cpu_per_full_listing", cpu, "ms/call")
    rate, cpu, _ = ctl_cost(pid, cli(s.show_cmd(one), a.query_calls))
    put("cli_one_job_query", rate, "calls/s")
    put("ctl_cpu_per_one_job_query", cpu, "ms/call")
    if isinstance(s, Corral):
        with s.client() as c:
            def rest_list() -> int:
                for _ in range(a.list_calls * 2):
                    c.jobs()
                return a.list_calls * 2

            def rest_one() -> int:
                for _ in range(a.query_calls * 5):
                    c.job(one)
                return a.query_calls * 5
            rate, cpu, _ = ctl_cost(pid, rest_list)
            put("rest_full_listing", rate, "calls/s")
            put("ctl_cpu_per_rest_listing", cpu, "ms/call")
            rate, cpu, _ = ctl_cost(pid, rest_one)
            put("rest_one_job_query", rate, "calls/s")
            put("ctl_cpu_per_rest_query", cpu, "ms/call")
        # the same on the wire: raw HTTP on the socket, bodies read but not decoded
        # (the controller's rate, not the Python client's JSON decoder's)
        assert s.cluster is not None
        wire = Raw(str(s.cluster.state / "corral.sock"))

        def wire_calls(url: str, n: int) -> Callable[[], int]:
            def go() -> int:
                for _ in range(n):
                    wire.call("GET", url)
                return n
            return go
        rate, cpu, _ = ctl_cost(pid, wire_calls("/v1/jobs", a.list_calls * 10))
        put("rest_full_listing_wire", rate, "calls/s")
        put("ctl_cpu_per_rest_listing_wire", cpu, "ms/call")
        rate, cpu, _ = ctl_cost(pid, wire_calls("/v1/jobs?view=brief", a.list_calls * 10))
        put("rest_brief_listing_wire", rate, "calls/s")
        put("ctl_cpu_per_rest_brief_listing_wire", cpu, "ms/call")
        rate, cpu, _ = ctl_cost(pid, wire_calls(f"/v1/jobs/{one}", a.query_calls * 20))
        put("rest_one_job_query_wire", rate, "calls/s")
        put("ctl_cpu_per_rest_query_wire", cpu, "ms/call")
        wire.close()

    log("latency while 4 clients poll the queue (the listing command)")
    idle = latency_s(s, a.latency_samples)
    stop = threading.Event()
    polls = [0]

    def poll() -> None:
        while not stop.is_set():
            run(s.list_cmd(), s.env, pw)
            polls[0] += 1

    pollers = [threading.Thread(target=poll) for _ in range(4)]
    for t in pollers:
        t.start()
    try:
        busy = latency_s(s, a.latency_samples)
    finally:
        stop.set()
        for t in pollers:
            t.join()
    put("submit_to_start_pending_idle", 1000 * idle, "ms")
    put("submit_to_start_pending_4_pollers", 1000 * busy, "ms")
    put("sched_latency_polled_vs_idle", busy / idle, "x")
    s.stop()


# lower is better for these units; the ratio is then peer / corral
NOT_COMPARED = {"python_c_pass", "python_c_pass_cpu", "pending"}  # the run's conditions
LOWER_BETTER = {"ms", "ms/job", "ms/call", "ms/run", "B/job", "x"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", choices=["slurm"], help="measure this peer too")
    ap.add_argument("--small", action="store_true", help="tiny sizes: check the script")
    ap.add_argument("--markdown", action="store_true", help="print a table at the end")
    ap.add_argument("--cpus", type=int, default=256, help="CPUs of corral's node (Slurm: "
                    "4 nodes x 64 from its setup)")
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--cli-jobs", type=int, default=100)
    ap.add_argument("--api-jobs", type=int, default=1000)
    ap.add_argument("--bulk-jobs", type=int, default=5000)
    ap.add_argument("--array-tasks", type=int, default=1001)
    ap.add_argument("--e2e-jobs", type=int, default=1000)
    ap.add_argument("--e2e-cap-s", type=float, default=300)
    ap.add_argument("--latency-samples", type=int, default=10)
    ap.add_argument("--list-calls", type=int, default=15)
    ap.add_argument("--query-calls", type=int, default=40)
    ap.add_argument("--only", type=groups, default=[], metavar="GROUP,…",
                    help=f"only these groups of figures ({', '.join(GROUPS)}; reads: "
                    "memory, listings, queries and latency with --pending jobs queued)")
    a = ap.parse_args()
    if a.small:
        a.pending, a.cli_jobs, a.api_jobs, a.bulk_jobs = 200, 10, 100, 300
        a.array_tasks, a.e2e_jobs, a.latency_samples = 101, 50, 3
        a.list_calls, a.query_calls = 3, 5
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs", flush=True)
    work = Path(tempfile.mkdtemp(prefix="corral-compare-", dir="/tmp"))
    work.chmod(0o755)
    results: dict[str, Results] = {}
    systems: list[System] = [Corral(work)]
    if a.peer == "slurm":
        systems.append(Slurm(work))
    try:
        for s in systems:
            results[s.name] = {}
            try:
                figures(s, a, results[s.name])
            finally:
                with contextlib.suppress(Exception):
                    s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = results["corral"]
    if "python_c_pass" in ours and "cli_submit_seq" in ours:
        floor = ours["python_c_pass"][0]
        for key in ("cli_submit_seq", "dropin_sbatch_seq", "dropin_squeue_one_job"):
            if key in ours:
                print(f"corral.{key}_time_vs_python_c_pass {floor / ours[key][0]:.3g} x")
    peer = a.peer
    if peer:
        for key, (value, unit) in ours.items():
            if key in NOT_COMPARED:
                continue
            if key in results[peer] and results[peer][key][0] and value:
                other = results[peer][key][0]
                ratio = other / value if unit in LOWER_BETTER else value / other
                print(f"ratio.{key} {ratio:.3g} corral/{peer}" + (" (time: inverted)"
                      if unit in LOWER_BETTER else ""))
    if a.markdown:
        head = f"| figure | unit | corral |{f' {peer} | ratio |' if peer else ''}"
        print("\n" + head + "\n|---|---|---|" + ("---|---|" if peer else ""))
        for key, (value, unit) in ours.items():
            row = f"| {key} | {unit} | {value:.4g} |"
            if peer:
                other_t = None if key in NOT_COMPARED else results[peer].get(key)
                if other_t and other_t[0] and value:
                    ratio = other_t[0] / value if unit in LOWER_BETTER else value / other_t[0]
                    row += f" {other_t[0]:.4g} | {ratio:.3g} |"
                else:
                    row += " — | — |"
            print(row)
    print(json.dumps({k: {f: v[0] for f, v in r.items()} for k, r in results.items()}),
          file=sys.stderr)


if __name__ == "__main__":
    main()
