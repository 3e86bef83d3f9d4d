"""DAGMan input files: nodes (JOB), edges (PARENT … CHILD …), RETRY, VARS,
SCRIPT PRE|POST, ABORT-DAG-ON, and the DONE marks of a rescue file; the nodes of a
gLite DAG JDL (corral.lang.jdl_dag) are read into the same Dag."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from corral.model.bounds import shown
from corral.model.errors import InvalidRequest

MAX_NODES = 100_000
# accepted and without effect (said once, as a warning)
IGNORED = {"PRIORITY", "CATEGORY", "MAXJOBS", "CONFIG", "DOT", "NODE_STATUS_FILE",
           "JOBSTATE_LOG", "SET_JOB_ATTR", "ENV", "REJECT", "CONNECT", "PIN_IN", "PIN_OUT",
           "SAVE_POINT_FILE", "PRE_SKIP", "DONE"}
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
_VAR = re.compile(r'([A-Za-z_+][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


class DagFileError(InvalidRequest):
    """A DAG file that cannot be read: one line naming the line."""


@dataclass
class Script:
    executable: str
    args: list[str]


@dataclass
class Node:
    name: str
    submit_file: Path
    directory: Path
    noop: bool = False
    done: bool = False
    retries: int = 0
    retry_unless_exit: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    pre: Script | None = None
    post: Script | None = None
    abort_on: int | None = None
    abort_return: int | None = None
    parents: list[str] = field(default_factory=list)
    jdl: str | None = None  # a JDL DAG's node: its JDL (submit_file: where it was read)


@dataclass
class Dag:
    path: Path
    nodes: dict[str, Node]
    warnings: list[str] = field(default_factory=list)
    jdl: bool = False  # a gLite DAG JDL

    def order(self) -> list[str]:
        """The nodes, parents before children (the file's order where it is free)."""
        out: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise DagFileError(f"the DAG has a cycle: {' -> '.join((*trail, name))}")
            state[name] = 1
            for p in self.nodes[name].parents:
                visit(p, (*trail, name))
            state[name] = 2
            out.append(name)

        for name in self.nodes:
            visit(name, ())
        return out


def _node(d: dict[str, Node], name: str, n: int, what: str) -> Node:
    if name not in d:
        raise DagFileError(f"line {n}: {what}: no node {shown(name)} (JOB lines come first)")
    return d[name]


def read(path: Path) -> Dag:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DagFileError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    base = path.parent
    nodes: dict[str, Node] = {}
    dag = Dag(path, nodes)
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise DagFileError(f"line {n}: {e}") from None
        kw = words[0].upper()
        if kw == "JOB":
            if len(words) < 3:
                raise DagFileError(f"line {n}: JOB needs a name and a submit file")
            name = words[1]
            if not _NAME.match(name) or name in nodes:
                raise DagFileError(f"line {n}: JOB {shown(name)}: "
                                   + ("a node of that name exists" if name in nodes
                                      else "a node name is letters, digits, _ . + -"))
            rest = [w.upper() for w in words[3:]]
            directory = base
            if "DIR" in rest:
                k = rest.index("DIR")
                if k + 1 >= len(rest):
                    raise DagFileError(f"line {n}: DIR needs a directory")
                directory = base / words[3 + k + 1]
            nodes[name] = Node(name, directory / words[2] if not Path(words[2]).is_absolute()
                               else Path(words[2]), directory, noop="NOOP" in rest,
                               done="DONE" in rest)
            if len(nodes) > MAX_NODES:
                raise DagFileError(f"more than {MAX_NODES} nodes")
        elif kw == "PARENT":
            upper = [w.upper() for w in words]
            if "CHILD" not in upper:
                raise DagFileError(f"line {n}: PARENT … CHILD …: no CHILD")
            k = upper.index("CHILD")
            parents, children = words[1:k], words[k + 1:]
            if not parents or not children:
                raise DagFileError(f"line {n}: PARENT and CHILD each need a node")
            for c in children:
                for p in parents:
                    _node(nodes, p, n, "PARENT")
                    node = _node(nodes, c, n, "CHILD")
                    if p not in node.parents:
                        node.parents.append(p)
        elif kw == "RETRY":
            if len(words) < 3 or not words[2].isdigit():
                raise DagFileError(f"line {n}: RETRY needs a node and a number of retries")
            node = _node(nodes, words[1], n, "RETRY")
            node.retries = int(words[2])
            if len(words) >= 5 and words[3].upper() == "UNLESS-EXIT":
                node.retry_unless_exit = int(words[4])
        elif kw == "VARS":
            if len(words) < 2:
                raise DagFileError(f"line {n}: VARS needs a node")
            node = _node(nodes, words[1], n, "VARS")
            rest_text = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
            pairs = _VAR.findall(rest_text)
            if not pairs:
                raise DagFileError(f'line {n}: VARS {node.name}: expected name="value" pairs')
            for key, value in pairs:
                node.variables[key] = value.replace('\\"', '"').replace("\\\\", "\\")
        elif kw == "SCRIPT":
            w = words[1:]
            if w and w[0].upper() == "DEFER":
                w = w[3:]
            if len(w) < 3 or w[0].upper() not in ("PRE", "POST"):
                raise DagFileError(f"line {n}: SCRIPT [DEFER s t] PRE|POST node program ...")
            node = _node(nodes, w[1], n, "SCRIPT")
            script = Script(w[2], w[3:])
            if w[0].upper() == "PRE":
                node.pre = script
            else:
                node.post = script
        elif kw == "ABORT-DAG-ON":
            if len(words) < 3:
                raise DagFileError(f"line {n}: ABORT-DAG-ON needs a node and an exit value")
            node = _node(nodes, words[1], n, "ABORT-DAG-ON")
            try:
                node.abort_on = int(words[2])
                if len(words) >= 5 and words[3].upper() == "RETURN":
                    node.abort_return = int(words[4])
            except ValueError:
                raise DagFileError(f"line {n}: ABORT-DAG-ON: {shown(words[2])} is not an "
                                   "exit value") from None
        elif kw in ("SUBDAG", "SPLICE", "FINAL", "SERVICE", "PROVISIONER", "INCLUDE"):
            raise DagFileError(f"line {n}: {kw} is not supported by corral's DAGs")
        elif kw in IGNORED:
            dag.warnings.append(f"{kw} is ignored by corral")
        else:
            raise DagFileError(f"line {n}: {shown(words[0])} is not a DAG command")
    if not nodes:
        raise DagFileError(f"{path}: no JOB in the file")
    dag.order()  # refuses a cycle now
    return dag


def read_jdl(path: Path) -> Dag:
    """A gLite DAG JDL's nodes as a Dag."""
    from corral.lang.jdl_dag import read_dag_file  # the ClassAd library: only here
    nodes = {}
    for name, n in read_dag_file(path).items():
        source = Path(n.source)
        nodes[name] = Node(name, source, path.parent, parents=list(n.parents), jdl=n.text)
    return Dag(path, nodes, jdl=True)


def read_any(path: Path) -> Dag:
    """A DAGMan file, or a gLite DAG JDL (told by its content)."""
    from corral.lang.sniff import looks_like_jdl
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DagFileError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    return read_jdl(path) if looks_like_jdl(text) else read(path)


def rescue_files(path: Path) -> list[Path]:
    """`FILE.rescue001`, … in order."""
    return sorted(p for p in path.parent.glob(path.name + ".rescue[0-9][0-9][0-9]"))


def apply_rescue(dag: Dag, rescue: Path) -> None:
    """Mark the nodes a rescue file says are done."""
    for line in rescue.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "DONE" and words[1] in dag.nodes:
            dag.nodes[words[1]].done = True


def write_rescue(dag: Dag, done: list[str], failed: list[str]) -> Path:
    existing = rescue_files(dag.path)
    number = int(existing[-1].name[-3:]) + 1 if existing else 1
    path = dag.path.with_name(f"{dag.path.name}.rescue{number:03d}")
    lines = [f"# Rescue DAG file, created for {dag.path.name}",
             f"# Total number of Nodes: {len(dag.nodes)}",
             f"# Nodes premarked DONE: {len(done)}",
             f"# Nodes that failed: {len(failed)}",
             *[f"#   {name}" for name in failed], "",
             *[f"DONE {name}" for name in done]]
    path.write_text("\n".join(lines) + "\n")
    return path
