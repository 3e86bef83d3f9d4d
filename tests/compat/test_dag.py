"""DAGMan files on corral: condor_submit_dag and `corral dag` with retries, PRE/POST
scripts, VARS, ABORT-DAG-ON and rescue files, against a real corral."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.compat.conftest import Compat

NODE_SUB = """executable = /bin/sh
arguments = "-c 'echo $(node) >> ran.txt; test ! -e fail.$(node)'"
output = $(node).out
queue
"""
DIAMOND = """# a diamond: A, then B and C, then D
JOB A node.sub
JOB B node.sub
JOB C node.sub
JOB D node.sub
VARS A node="A"
VARS B node="B"
VARS C node="C"
VARS D node="D"
PARENT A CHILD B C
PARENT B C CHILD D
RETRY C 2
SCRIPT PRE A pre.sh $JOB
SCRIPT POST B post.sh $JOB $RETURN
"""


def _manager(compat: Compat, out: str) -> int:
    m = re.search(r"1 job\(s\) submitted to cluster (\d+)\.", out)
    assert m, out
    return int(m.group(1))


def _ended(compat: Compat, job_id: int) -> dict:
    job = compat.cluster.wait_state(job_id, {"COMPLETED", "FAILED", "CANCELLED"},
                                    timeout_s=120)
    assert job["state"] in ("COMPLETED", "FAILED"), job
    return job


def test_diamond_with_retries_rescue_and_resubmit(compat: Compat) -> None:
    d = compat.work / "diamond"
    d.mkdir()
    d.chmod(0o777)
    (d / "node.sub").write_text(NODE_SUB)
    (d / "diamond.dag").write_text(DIAMOND)
    (d / "pre.sh").write_text("#!/bin/sh\necho \"pre $1\" >> scripts.txt\n")
    (d / "post.sh").write_text("#!/bin/sh\necho \"post $1 $2\" >> scripts.txt\nexit $2\n")
    for s in ("pre.sh", "post.sh"):
        (d / s).chmod(0o755)
    (d / "fail.C").write_text("")
    dagfile = d / "diamond.dag"
    out = compat.out("condor_submit_dag", str(dagfile))
    assert "Log of DAGMan debugging messages" in out and "diamond.dag.dagman.out" in out
    job = _ended(compat, _manager(compat, out))
    assert job["state"] == "FAILED" and job["exit_code"] == 1
    ran = (d / "ran.txt").read_text().split()
    assert sorted(ran) == ["A", "B", "C", "C", "C"], ran  # C tried three times, no D
    assert (d / "scripts.txt").read_text() == "pre A\npost B 0\n"
    rescue = (d / "diamond.dag.rescue001").read_text()
    assert sorted(re.findall(r"^DONE (\w+)$", rescue, re.M)) == ["A", "B"]
    status = json.loads((d / "diamond.dag.status.json").read_text())
    nodes = {n["node"]: n for n in status["nodes"]}
    assert nodes["C"]["state"] == "failed" and nodes["C"]["attempts"] == 3
    assert nodes["D"]["state"] == "futile" and nodes["A"]["state"] == "done"
    shown = compat.cluster.corral("dag", "status", str(dagfile)).stdout
    assert shown.splitlines()[0].startswith("DAG diamond.dag: failed;")
    assert re.search(r"^C +failed +3 ", shown, re.M), shown
    # fixed, then submitted again: only C and D run
    (d / "fail.C").unlink()
    (d / "ran.txt").write_text("")
    job = _ended(compat, _manager(compat, compat.out("condor_submit_dag", str(dagfile))))
    assert job["state"] == "COMPLETED", job
    assert (d / "ran.txt").read_text().split() == ["C", "D"]
    assert "All 4 nodes of diamond.dag succeeded" in (d / "diamond.dag.dagman.out").read_text()


def test_abort_dag_on_stops_the_dag_and_removes_queued_nodes(compat: Compat) -> None:
    d = compat.work / "abort"
    d.mkdir()
    d.chmod(0o777)
    (d / "quick.sub").write_text("executable = /bin/sh\narguments = \"-c 'exit 3'\"\nqueue\n")
    (d / "slow.sub").write_text("executable = /bin/sleep\narguments = 120\nqueue\n")
    (d / "abort.dag").write_text("JOB slow slow.sub\nJOB quick quick.sub\n"
                                 "SCRIPT PRE quick wait.sh\n"
                                 "ABORT-DAG-ON quick 3 RETURN 7\n")
    # the quick node waits (in its PRE script) until the slow one is queued
    (d / "wait.sh").write_text("#!/bin/sh\nfor i in $(seq 100); do\n"
                               "  grep -q '\"cluster\": [0-9]' abort.dag.status.json && exit 0\n"
                               "  sleep 0.1\ndone\nexit 0\n")
    (d / "wait.sh").chmod(0o755)
    proc = compat.cluster.corral("dag", "run", str(d / "abort.dag"), check=False)
    assert proc.returncode == 7, (proc.stdout, proc.stderr)
    status = json.loads((d / "abort.dag.status.json").read_text())
    nodes = {n["node"]: n for n in status["nodes"]}
    assert status["aborted"] and nodes["quick"]["returned"] == 3
    assert nodes["slow"]["state"] == "removed"
    job = compat.cluster.wait_state(nodes["slow"]["cluster"], {"CANCELLED"}, timeout_s=30)
    assert job["state"] == "CANCELLED"


def test_bad_dag_files_are_one_line(compat: Compat, tmp_path: Path) -> None:
    d = compat.work / "bad"
    d.mkdir(exist_ok=True)
    (d / "n.sub").write_text("executable = /bin/true\nqueue\n")
    for text, message in [
        ("JOB a n.sub\nPARENT a CHILD b\n",
         "ERROR: line 2: CHILD: no node 'b' (JOB lines come first)\n"),
        ("JOB a n.sub\nJOB b n.sub\nPARENT a CHILD b\nPARENT b CHILD a\n",
         "ERROR: the DAG has a cycle: a -> b -> a\n"),
        ("JOB a n.sub\nSUBDAG EXTERNAL s x.dag\n",
         "ERROR: line 2: SUBDAG is not supported by corral's DAGs\n"),
        ("FROB a\n", "ERROR: line 1: 'FROB' is not a DAG command\n"),
    ]:
        (d / "x.dag").write_text(text)
        p = compat.run("condor_submit_dag", str(d / "x.dag"), rc=1)
        assert p.stderr == message, (text, p.stderr)


DAG_JDL = """[
  Type = "DAG";
  // every node runs the same program on its own name; C fails while fail.C exists
  Executable = "/bin/sh";
  Nodes = [
    A = [ description = [ Arguments = "-c 'echo A >> ran.txt'"; StdOutput = "A.out"; ]; ];
    B = [ file = "b.jdl"; ];
    C = [ description = [ Arguments = "-c 'echo C >> ran.txt; test ! -e fail.C'";
                          StdOutput = "C.out"; RetryCount = 2; ]; ];
    D = [ description = [ Arguments = "-c 'echo D >> ran.txt'"; StdOutput = "D.out"; ]; ];
    Dependencies = { {A, {B, C}}, {{B, C}, D} };
  ];
]
"""
SUBMITTED_DAG = """
Connecting to the service corral


====================== glite-wms-job-submit Success ======================

The job has been successfully submitted to the WMProxy
Your job identifier is:

https://HOST:9000/ID

==========================================================================

"""


def test_a_jdl_dag_retries_fails_rescues_and_resumes(compat: Compat) -> None:
    """The diamond as a gLite DAG JDL: C (RetryCount = 2) runs three times and fails,
    D never runs, the rescue file names A and B; submitted again once C is fixed, only
    C and D run."""
    d = compat.work / "jdldag"
    d.mkdir()
    d.chmod(0o777)
    (d / "b.jdl").write_text('Arguments = "-c \'echo B >> ran.txt\'"; StdOutput = "B.out";\n')
    (d / "diamond.jdl").write_text(DAG_JDL)
    (d / "fail.C").write_text("")
    p = compat.run("glite-wms-job-submit", "-a", str(d / "diamond.jdl"))
    assert re.sub(r"https://[^/\s]+:9000/\d+", "https://HOST:9000/ID", p.stdout) \
        == SUBMITTED_DAG, p.stdout
    manager = int(re.findall(r":9000/(\d+)", p.stdout)[0])
    job = _ended(compat, manager)
    assert job["state"] == "FAILED" and job["exit_code"] == 1, job
    ran = (d / "ran.txt").read_text().split()
    assert sorted(ran) == ["A", "B", "C", "C", "C"], ran
    rescue = (d / "diamond.jdl.rescue001").read_text()
    assert sorted(re.findall(r"^DONE (\w+)$", rescue, re.M)) == ["A", "B"]
    status = json.loads((d / "diamond.jdl.status.json").read_text())
    nodes = {n["node"]: n for n in status["nodes"]}
    assert (nodes["C"]["state"], nodes["D"]["state"]) == ("failed", "futile"), nodes
    c_job = compat.cluster.show(int(nodes["C"]["cluster"]))
    assert (c_job["state"], c_job["deep_retries"], c_job["name"]) == (
        "FAILED", 2, "diamond.jdl+C"), c_job
    with compat.cluster.client() as cl:
        whys = [e["data"]["why"] for e in cl.events(c_job["id"]) if e["kind"] == "requeue"]
    assert whys == ["the job failed (exit code 1)"] * 2
    shown = compat.cluster.corral("dag", "status", str(d / "diamond.jdl")).stdout
    assert shown.splitlines()[0] == "DAG diamond.jdl: failed; 2 done, 1 failed, 1 futile"
    # fixed, then submitted again (with corral submit): only C and D run
    (d / "fail.C").unlink()
    (d / "ran.txt").write_text("")
    out = compat.cluster.corral("submit", str(d / "diamond.jdl"), cwd=d).stdout
    m = re.fullmatch(r"Submitted DAG diamond.jdl: manager job (\d+) \(`corral dag status "
                     r"\S+diamond.jdl`\)\n", out)
    assert m, out
    job = _ended(compat, int(m.group(1)))
    assert job["state"] == "COMPLETED", job
    assert (d / "ran.txt").read_text().split() == ["C", "D"]
    assert (d / "D.out").exists()


def test_a_jdl_dag_refused_at_submit_names_the_node(compat: Compat) -> None:
    d = compat.work / "baddag"
    d.mkdir()
    (d / "bad.jdl").write_text('[ Type = "DAG"; Nodes = [ A = [ file = "gone.jdl"; ]; ]; ]')
    p = compat.run("glite-wms-job-submit", "-a", str(d / "bad.jdl"), rc=1)
    assert p.stderr == (f"Error - Invalid JDL\n{d}/bad.jdl: Nodes: A: file 'gone.jdl': "
                        "cannot read it (No such file or directory)\n"), p.stderr
    p = compat.cluster.corral("submit", str(d / "bad.jdl"), check=False)
    assert p.returncode == 2 and p.stderr.strip().endswith(
        "Nodes: A: file 'gone.jdl': cannot read it (No such file or directory)"), p.stderr
