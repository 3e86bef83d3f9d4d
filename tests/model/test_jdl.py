"""corral.lang.jdl: a JDL's jobs as submissions; every refusal names the attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.lang.jdl import jdl_jobs
from corral.lang.sniff import looks_like_jdl
from corral.model.errors import InvalidRequest


def _jobs(tmp_path: Path, text: str) -> tuple[str, list[dict[str, object]]]:
    src = tmp_path / "job.jdl"
    src.write_text(text)
    got = jdl_jobs(text, source=str(src), cwd=str(tmp_path), environ={"HOME": "/h"})
    return got.job_type, got.requests


def test_a_normal_job(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("echo\n")
    kind, reqs = _jobs(tmp_path, """
// a comment
Executable = "run.sh";
Arguments = "-n 3 'a b'";
StdOutput = "std.out"; StdError = "std.out";
Environment = {"A=1", "B=x=y"};
InputSandbox = {"run.sh"};
OutputSandbox = {"std.out", "result.dat"};
ShallowRetryCount = 3; RetryCount = 1;
Requirements = other.Cpus >= 2;
""")
    assert kind == "Normal" and len(reqs) == 1
    r = reqs[0]
    assert r["name"] == "job" and r["stdout"] == "std.out" and "stderr" not in r
    assert r["environment"] == {"HOME": "/h", "A": "1", "B": "x=y"}
    assert str(r["script"]).splitlines()[-1] == "exec ./run.sh -n 3 'a b'"
    assert r["input_sandbox_files"] == [f"{tmp_path}/run.sh"]  # uploaded at submit
    assert r["output_sandbox"] == ["std.out", "result.dat"]
    assert (r["retry_count"], r["max_retries"]) == (1, 3)
    assert r["requirements"] == "other.Cpus >= 2"
    assert "OutputSandbox" in str(r["jdl"])


def test_a_collection_inherits_its_attributes(tmp_path: Path) -> None:
    kind, reqs = _jobs(tmp_path, """[
  Type = "Collection";
  Executable = "/bin/echo";
  Requirements = other.Cpus >= 2;
  Nodes = { [ Arguments = "one"; NodeName = "first" ],
            [ Arguments = "two"; Executable = "/bin/printf" ] };
]""")
    assert kind == "Collection"
    assert [r["name"] for r in reqs] == ["job_first", "job_node1"]
    assert [str(r["script"]).splitlines()[-1] for r in reqs] == ["exec /bin/echo one",
                                                                 "exec /bin/printf two"]
    assert all(r["requirements"] == "other.Cpus >= 2" for r in reqs)


def test_parameters_as_a_list(tmp_path: Path) -> None:
    _, reqs = _jobs(tmp_path, """JobType = "Parametric"; Executable = "/bin/echo";
Arguments = "_PARAM_"; Parameters = {"a", "b", "c"};
Requirements = other.Name != "_PARAM_";""")
    assert [str(r["script"]).splitlines()[-1] for r in reqs] == [
        "exec /bin/echo a", "exec /bin/echo b", "exec /bin/echo c"]
    assert reqs[1]["requirements"] == 'other.Name != "b"'


@pytest.mark.parametrize(("text", "message"), [
    ('Arguments = "x";', "Executable: the JDL must give it"),
    ('Executable = 3;', "Executable: 3 is not a string"),
    ('Executable = "x"; JobType = "MPICH";', "NodeNumber: an MPICH job must give it (or "
     "CPUNumber): its number of MPI ranks"),
    ('Executable = "x"; JobType = "Partitionable";', "JobType: 'Partitionable' is not "
     "supported (supported: Normal, Parametric, Collection, DAG, MPICH, Interactive, "
     "Checkpointable)"),
    ('Executable = "x"; JobType = {"MPICH", "Checkpointable"};', "JobType: ['MPICH', "
     "'Checkpointable']: corral takes one job type"),
    ('Type = "Bundle"; Executable = "x";', "Type: 'Bundle' is not a JDL type"),
    ('Type = "DAG"; Executable = "x";', "Nodes: a DAG lists its nodes"),
    ('JobType = "Checkpointable"; Executable = "x"; JobSteps = 3; CurrentStep = 3;',
     "CurrentStep: 3 is not below JobSteps (3)"),
    ('JobType = "Checkpointable"; Executable = "x"; JobSteps = {};', "JobSteps: a list of"),
    ('Executable = "x"; InputSandbox = {"gsiftp://h/f"};', "InputSandbox: 'gsiftp://h/f' is "
     "not a local file"),
    ('Executable = "x"; InputSandbox = {"nope"};', "InputSandbox: "),
    ('Executable = "x"; Environment = {"NOEQUALS"};', "Environment: 'NOEQUALS'"),
    ('Executable = "x"; RetryCount = 1000;', "RetryCount: 1000 is outside 0..100"),
    ('Executable = "x"; JobType = "Parametric";', "Parameters: a Parametric job must"),
    ('Executable = "x"; JobType = "Parametric"; Parameters = 0;', "Parameters: 0 is outside"),
    ('Executable = "x" Arguments = "y";', "not a valid JDL"),
])
def test_refusals_name_the_attribute(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        _jobs(tmp_path, text)
    assert str(e.value).startswith(f"{tmp_path}/job.jdl: ")
    assert message in str(e.value)


@pytest.mark.parametrize(("attrs", "want"), [
    ("CPUNumber = 8;", {"nodes": 1, "cpus_per_node": 8}),
    ("CPUNumber = 8; SMPGranularity = 4;", {"nodes": 2, "cpus_per_node": 4}),
    ("CPUNumber = 9; HostNumber = 2;", {"nodes": 2, "cpus_per_node": 5}),
    ("SMPGranularity = 4; WholeNodes = true;", {"cpus_per_node": 4, "exclusive": True}),
    ("", {}),
])
def test_multicore_attributes(tmp_path: Path, attrs: str, want: dict[str, object]) -> None:
    _, reqs = _jobs(tmp_path, f'Executable = "x"; {attrs}')
    got = {k: reqs[0][k] for k in ("nodes", "cpus_per_node", "exclusive") if k in reqs[0]}
    assert got == want


def test_detection() -> None:
    assert looks_like_jdl('[ Executable = "x"; ]')
    assert looks_like_jdl('# c\nexecutable = "x";\n')
    assert not looks_like_jdl("#!/bin/sh\nExecutable=x\n")
    assert not looks_like_jdl("echo hi\n")


def test_an_mpich_job_starts_its_ranks_through_srun(tmp_path: Path) -> None:
    import sys
    _, reqs = _jobs(tmp_path, 'JobType = "MPICH"; Executable = "/opt/ring"; '
                    'Arguments = "-v"; NodeNumber = 4; SMPGranularity = 2;')
    r = reqs[0]
    assert (r["nodes"], r["cpus_per_node"]) == (2, 2)
    assert str(r["script"]).splitlines()[-1] == (
        f"exec {sys.executable} -m corral.compat.slurm.srun --mpi=pmi2 -n 4 /opt/ring -v")
    _, reqs = _jobs(tmp_path, 'JobType = "mpich"; Executable = "a"; CPUNumber = 3;')
    assert (reqs[0]["nodes"], reqs[0]["cpus_per_node"]) == (1, 3)
    assert " -n 3 a" in str(reqs[0]["script"])


def test_checkpointable_and_interactive_jobs(tmp_path: Path) -> None:
    kind, reqs = _jobs(tmp_path, 'JobType = "Checkpointable"; Executable = "/bin/true"; '
                       'JobSteps = {"a", "b"}; CurrentStep = 1;')
    assert kind == "Checkpointable"
    assert (reqs[0]["requeue"], reqs[0]["notify"]) == (True, True)
    kind, reqs = _jobs(tmp_path, 'JobType = "Interactive"; Executable = "/bin/sh";')
    assert kind == "Interactive" and reqs[0]["interactive"] is True


def test_a_dag_is_its_manager_job(tmp_path: Path) -> None:
    (tmp_path / "a.jdl").write_text('Executable = "/bin/echo"; Arguments = "a";')
    (tmp_path / "common.dat").write_text("x")
    kind, reqs = _jobs(tmp_path, """[
  Type = "DAG";
  InputSandbox = {"common.dat"};
  DefaultNodeRetryCount = 1;
  Nodes = [
    nodeA = [ file = "a.jdl"; ];
    nodeB = [ description = [ Executable = "/bin/echo"; RetryCount = 2; ]; ];
    nodeC = [ description = [ Executable = "/bin/echo"; ]; node_retry_count = 3; ];
    Dependencies = { {nodeA, {nodeB, nodeC}} };
  ];
]""")
    assert kind == "DAG" and len(reqs) == 1
    assert "corral.compat.condor.dagman" in str(reqs[0]["script"])
    assert str(reqs[0]["script"]).endswith(f"{tmp_path}/job.jdl\n")
    assert reqs[0]["working_dir"] == str(tmp_path)
    from corral.lang.jdl_dag import read_dag_file
    nodes = read_dag_file(tmp_path / "job.jdl")
    assert [(n.name, n.parents) for n in nodes.values()] == [
        ("nodeA", ()), ("nodeB", ("nodeA",)), ("nodeC", ("nodeA",))]
    retries = {}
    for n in nodes.values():
        got = jdl_jobs(n.text, source=n.source, cwd=str(tmp_path), environ={})
        retries[n.name] = got.requests[0]["retry_count"]
        assert got.requests[0]["input_sandbox_files"] == [f"{tmp_path}/common.dat"]
    assert retries == {"nodeA": 1, "nodeB": 2, "nodeC": 3}


@pytest.mark.parametrize(("nodes", "message"), [
    ('Nodes = [ a = [ file = "none.jdl"; ]; ];', "Nodes: a: file 'none.jdl': cannot read it"),
    ('Nodes = [ a = [ description = [ Executable = "x"; ]; ]; '
     'Dependencies = { {a, b} }; ];', "Dependencies: 'b' is not a node of the DAG"),
    ('Nodes = [ a = [ description = [ Executable = "x"; ]; ]; '
     'b = [ description = [ Executable = "x"; ]; ]; '
     'Dependencies = { {a, b}, {b, a} }; ];', "Dependencies: a cycle: "),
    ('Nodes = [ a = [ file = "x"; description = [ Executable = "x"; ]; ]; ];',
     "Nodes: a: give its file or its description (one of them)"),
    ('Nodes = [ a = [ description = [ Arguments = "x"; ]; ]; ];',
     "Nodes: a: Executable: the JDL must give it"),
    ('Nodes = [ a = [ description = [ Executable = "x"; JobType = "Interactive"; ]; ]; ];',
     "Nodes: a: a DAG's node is a Normal, MPICH or Checkpointable job, not Interactive"),
    ('Nodes = [ a = [ description = [ Executable = "x"; ]; colour = 1; ]; ];',
     "Nodes: a: 'colour' is not a node attribute"),
])
def test_dag_refusals_name_the_node(tmp_path: Path, nodes: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        _jobs(tmp_path, f'[ Type = "DAG"; {nodes} ]')
    assert str(e.value).startswith(f"{tmp_path}/job.jdl: {message}"), str(e.value)
