"""The DAG manager: runs a DAGMan file's nodes as corral jobs, in order.

It runs as a corral job of its own (condor_submit_dag, `corral dag submit`), as
HTCondor runs DAGMan as a job, or in the foreground (`corral dag run`). A node is
submitted when all its parents succeeded: its PRE script runs first (here, where the
manager runs), then its submit file is submitted as one cluster, then its POST
script, whose exit status decides the node's (else the cluster's: every job
completed with 0). A failed node is tried again up to its RETRY count (PRE, job,
POST each time); ABORT-DAG-ON stops the DAG at once (the queued nodes' jobs are
removed). When no more can run, a DAG that did not succeed gets a rescue file
(`FILE.rescue001`, …: its DONE lines), which the next submission of FILE reads, so
that only what had not succeeded runs again. The manager's state is written to
`FILE.status.json` at every change (`corral dag status FILE` shows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.client import Client
from corral.compat.condor import build, submitfile
from corral.compat.condor.dagfile import (
    Dag,
    Node,
    Script,
    apply_rescue,
    read_any,
    rescue_files,
    write_rescue,
)
from corral.lang.dagjob import submit_environment
from corral.model.errors import CorralError
from corral.model.states import FINAL_JOB_STATES

POLL_S = 0.5
SCRIPT_TIMEOUT_S = 3600.0
FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)


@dataclass
class NodeRun:
    node: Node
    state: str = "waiting"  # waiting, queued, done, failed, futile, removed
    attempts: int = 0
    job_ids: tuple[int, ...] = ()
    cluster: int | None = None
    returned: int | None = None


def say(text: str) -> None:
    print(time.strftime("%m/%d/%y %H:%M:%S ") + text, flush=True)


def run_script(s: Script, node: NodeRun, returned: int | None) -> int:
    words = [w.replace("$JOB", node.node.name).replace("$RETRY", str(node.attempts - 1))
             .replace("$RETURN", str(returned if returned is not None else -1))
             .replace("$JOBID", f"{node.cluster}.0" if node.cluster else "")
             for w in [s.executable, *s.args]]
    exe = words[0] if os.path.isabs(words[0]) else str(node.node.directory / words[0])
    try:
        return subprocess.run([exe, *words[1:]], cwd=node.node.directory,
                              timeout=SCRIPT_TIMEOUT_S, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"Node {node.node.name}: script {exe} could not run: {e}")
        return 1


def status_path(dag_path: Path) -> Path:
    return dag_path.with_name(dag_path.name + ".status.json")


class Manager:
    def __init__(self, dag: Dag, client: Client) -> None:
        self.dag = dag
        self.client = client
        self.runs = {name: NodeRun(n, "done" if n.done else "waiting")
                     for name, n in dag.nodes.items()}
        self.aborted: int | None = None

    def write_status(self) -> None:
        data = {"dag": str(self.dag.path), "t": time.time(),
                "aborted": self.aborted is not None,
                "nodes": [{"node": r.node.name, "state": r.state, "attempts": r.attempts,
                           "cluster": r.cluster, "returned": r.returned}
                          for r in self.runs.values()]}
        tmp = status_path(self.dag.path).with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(status_path(self.dag.path))

    def submit(self, r: NodeRun) -> None:
        r.attempts += 1
        if r.node.pre is not None:
            code = run_script(r.node.pre, r, None)
            if code != 0:
                say(f"Node {r.node.name}: PRE script failed with {code}")
                self.finish(r, code, ran_post=True)
                return
        if r.node.noop:
            self.finish(r, 0)
            return
        try:
            ids = self.submit_jdl(r) if r.node.jdl is not None else self.submit_file(r)
        except (OSError, CorralError) as e:
            say(f"Node {r.node.name}: not submitted: {e}")
            self.finish(r, 1, ran_post=True)
            return
        job = self.client.job(min(ids))
        r.cluster = int(job.get("array_job_id") or job["id"])
        r.job_ids = tuple(ids)
        r.state = "queued"
        say(f"Node {r.node.name}: submitted as cluster {r.cluster} ({len(ids)} job(s))")

    def submit_file(self, r: NodeRun) -> list[int]:
        text = r.node.submit_file.read_text()
        procs = submitfile.read(text, r.node.directory, r.node.variables)
        warn: list[str] = []
        req = build.request(procs, str(r.node.directory), None, warn)
        req["name"] = f"{self.dag.path.name}+{r.node.name}"[:200]
        return self.client.submit_many(**req)

    def submit_jdl(self, r: NodeRun) -> list[int]:
        """A JDL DAG's node: its jobs (one, or a Parametric's), all or none; the
        environment is the manager's, which is the submitter's."""
        from corral.lang.jdl import jdl_jobs  # the ClassAd library: only for JDL DAGs
        from corral.lang.submitting import submit_all
        assert r.node.jdl is not None
        jobs = jdl_jobs(r.node.jdl, source=str(r.node.submit_file),
                        cwd=str(self.dag.path.parent), environ=submit_environment(os.environ))
        for req in jobs.requests:
            req["name"] = f"{self.dag.path.name}+{r.node.name}"[:200]
        return submit_all(self.client, jobs.requests)

    def poll(self, r: NodeRun) -> None:
        jobs: list[dict[str, Any]] = []
        for job_id in r.job_ids:
            jobs.append(dict(self.client.job(job_id)))
        if not all(j["state"] in FINAL for j in jobs):
            return
        bad = [j for j in jobs if j["state"] != "COMPLETED" or (j.get("exit_code") or 0)]
        code = 0
        if bad:
            code = int(bad[0].get("exit_code") or 0) or 1
        self.finish(r, code)

    def finish(self, r: NodeRun, code: int, ran_post: bool = False) -> None:
        if r.node.post is not None and not ran_post:
            code = run_script(r.node.post, r, code)
        r.returned = code
        if code == 0:
            r.state = "done"
            say(f"Node {r.node.name}: done")
            return
        if r.node.abort_on is not None and code == r.node.abort_on:
            say(f"Node {r.node.name}: returned {code}: ABORT-DAG-ON, the DAG stops")
            r.state = "failed"
            self.aborted = r.node.abort_return if r.node.abort_return is not None else code
            self.remove_queued()
            return
        unless = r.node.retry_unless_exit
        if r.attempts <= r.node.retries and (unless is None or code != unless):
            say(f"Node {r.node.name}: failed ({code}); retry {r.attempts} of "
                f"{r.node.retries}")
            r.state = "waiting"
            return
        r.state = "failed"
        say(f"Node {r.node.name}: failed ({code})")

    def remove_queued(self) -> None:
        for other in self.runs.values():
            if other.state == "queued":
                for job_id in other.job_ids:
                    with contextlib.suppress(CorralError):
                        self.client.cancel(job_id)
                other.state = "removed"

    def ready(self, r: NodeRun) -> bool:
        return r.state == "waiting" and all(
            self.runs[p].state == "done" for p in r.node.parents)

    def step(self) -> bool:
        """One round; False once nothing more can happen."""
        changed = False
        for r in self.runs.values():
            if self.aborted is not None:
                break
            if r.state == "queued":
                before = r.state
                self.poll(r)
                changed = changed or r.state != before
        for name in self.dag.order():
            r = self.runs[name]
            if self.aborted is None and self.ready(r):
                self.submit(r)
                changed = True
        for r in self.runs.values():  # children of failed nodes can never run
            if r.state == "waiting" and any(self.runs[p].state in ("failed", "futile", "removed")
                                            for p in r.node.parents):
                r.state = "futile"
                changed = True
        if changed:
            self.write_status()
        return self.aborted is None and any(
            r.state == "queued" or self.ready(r) for r in self.runs.values())

    def run(self) -> int:
        self.write_status()
        while self.step():
            time.sleep(POLL_S)
        self.write_status()
        done = [n for n, r in self.runs.items() if r.state == "done"]
        failed = [n for n, r in self.runs.items() if r.state != "done"]
        if not failed:
            say(f"All {len(done)} nodes of {self.dag.path.name} succeeded")
            return 0
        rescue = write_rescue(self.dag, done, failed)
        say(f"{len(failed)} node(s) did not succeed; rescue file {rescue.name}")
        return self.aborted if self.aborted is not None else 1


def load(path: Path, use_rescue: bool = True) -> Dag:
    dag = read_any(path)
    rescues = rescue_files(path)
    if use_rescue and rescues:
        apply_rescue(dag, rescues[-1])
    return dag


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m corral.compat.condor.dagman DAGFILE", file=sys.stderr)
        sys.exit(2)
    path = Path(args[0]).resolve()
    try:
        dag = load(path, use_rescue=os.environ.get("CORRAL_DAG_RESCUE", "1") != "0")
    except CorralError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        sys.exit(1)
    for w in dag.warnings:
        say(f"WARNING: {w}")
    with Client() as c:
        code = Manager(dag, c).run()
    sys.exit(code)


if __name__ == "__main__":
    main()
