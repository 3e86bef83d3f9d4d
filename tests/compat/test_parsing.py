"""The pure pieces: getopt-like parsing, host lists, format strings, sbatch requests."""

from __future__ import annotations

import pytest

from corral.compat import fmt
from corral.compat.install import COMMANDS, install
from corral.compat.options import NONE, OPTIONAL, Opt, OptionError, collect, parse
from corral.compat.slurm.squeue_fields import LETTERS
from corral.compat.slurm.submitopts import TABLE, build_request, directive_args
from corral.model import hostlist

T = [Opt("job-name", "name", short="J"), Opt("hold", "hold", NONE, "H"),
     Opt("nice", "nice", OPTIONAL), Opt("ntasks", "ntasks", short="n"),
     Opt("ntasks-per-node", "tpn")]


def test_getopt_forms() -> None:
    found, rest = parse(["--job=x", "-Hn4", "--nice", "--ntasks-per", "2", "s.sh", "-J", "y"],
                        T)
    assert collect(found) == {"name": "x", "hold": None, "ntasks": "4", "nice": None,
                              "tpn": "2"}
    assert rest == ["s.sh", "-J", "y"]
    with pytest.raises(OptionError, match="unrecognized option '--bogus'"):
        parse(["--bogus"], T)
    with pytest.raises(OptionError, match="ambiguous"):
        parse(["--nt=1"], T)
    with pytest.raises(OptionError, match="requires an argument"):
        parse(["--job-name"], T)
    with pytest.raises(OptionError, match="doesn't allow an argument"):
        parse(["--hold=1"], T)


def test_hostlist_round_trip() -> None:
    names = hostlist.expand("node[1-3,7],gpu[08-10],login")
    assert names == ["node1", "node2", "node3", "node7", "gpu08", "gpu09", "gpu10", "login"]
    assert hostlist.compress(names) == "node[1-3,7],gpu[08-10],login"
    assert hostlist.compress(["n1"]) == "n1"


def test_percent_format() -> None:
    job = {"id": 12, "display_id": "12", "name": "abcdef", "state": "HELD", "reason": "x"}
    cols = fmt.parse_percent("%.6i %3j %t", LETTERS)
    assert fmt.header_line(cols) == " JOBID NAM ST"
    assert fmt.line(cols, job) == "    12 abc PD"


def test_directives_and_request() -> None:
    script = ("#!/bin/sh\n#SBATCH -J a -n 2\n\n# plain comment\n#SBATCH --mem=2G # note\n"
              "echo\n#SBATCH -p late\n")
    args = directive_args(script)
    assert args == ["-J", "a", "-n", "2", "--mem=2G"]
    found, _ = parse([*args, "-c", "3", "--gres=gpu:2", "--array=0-3%2"], TABLE)
    req = build_request(collect(found), script=script, args=[], default_name="s")
    assert req["cpus_per_node"] == 6 and req["mem_mb_per_node"] == 2048
    assert req["gpus_per_node"] == 2 and req["array"] == "0-3%2"
    assert req["stdout"] == "slurm-%A_%a.out" and "partition" not in req


def test_install_writes_launchers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = install(tmp_path)
    assert sorted(p.name for p in paths) == sorted(COMMANDS)
    text = (tmp_path / "sbatch").read_text()
    assert text.startswith("#!") and "from corral.compat.slurm.sbatch import main" in text
    (tmp_path / "other").write_text("#!/bin/sh\n")
    install(tmp_path)  # re-install over our own launchers is fine
    (tmp_path / "qsub").write_text("#!/bin/sh\necho real qsub\n")
    with pytest.raises(FileExistsError):
        install(tmp_path)


def test_typed_gpu_requests() -> None:
    import pytest

    from corral.model.errors import InvalidRequest

    def req(*opts: str) -> dict:  # type: ignore[type-arg]
        found, _ = parse([*opts], TABLE)
        return build_request(collect(found), script="#!/bin/sh\n", args=[], default_name="s")

    r = req("--gres=gpu:a100:2")
    assert (r["gpus_per_node"], r["gpu_type"]) == (2, "a100")
    r = req("--gres=gpu:3")
    assert r["gpus_per_node"] == 3 and "gpu_type" not in r
    r = req("-N", "2", "--gpus=v100:4")
    assert (r["gpus_per_node"], r["gpu_type"]) == (2, "v100")
    assert req("--gres=gpu")["gpus_per_node"] == 1
    r = req("--gres=gpu:a100:1,nvme:2,fpga:xilinx")  # other generic resources apart
    assert (r["gpus_per_node"], r["gres"]) == (1, "nvme:2,fpga:xilinx")
    assert req("--gres=nvme")["gres"] == "nvme" and "gpus_per_node" not in req("--gres=nvme")
    for bad in ("--gres=gpu:a100:1,gpu:v100:1", "--gres=nvme:0", "--gres=a:b:c:1",
                "--gpus=a100"):
        with pytest.raises(InvalidRequest):
            req(bad)
