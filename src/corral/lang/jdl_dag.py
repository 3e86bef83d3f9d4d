"""gLite DAG JDLs (docs/job-languages.md): `Type = "DAG"`, its nodes and their
dependencies, read into nodes the DAG manager runs (corral.compat.condor.dagman, the
one DAGMan files use).

    [
      Type = "DAG";
      InputSandbox = {"common.dat"};          // inherited by the nodes without one
      DefaultNodeRetryCount = 1;              // the nodes' RetryCount, unless they give it
      Nodes = [
        nodeA = [ file = "a.jdl"; ];
        nodeB = [ description = [ Executable = "b.sh"; ]; node_retry_count = 2; ];
        Dependencies = { {nodeA, nodeB}, {nodeA, {nodeC, nodeD}}, {{nodeB, nodeC}, nodeD} };
      ];
    ]

`Nodes` may also be a list of ads naming themselves (`NodeName = "nodeA"`), and
`Dependencies` may stand beside `Nodes`. A dependency is {parents, children}, each a
node or a list of nodes, named bare or quoted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import classad2

from corral.lang import jdl
from corral.lang.dagjob import manager_request
from corral.model.errors import InvalidRequest

MAX_NODES = 10_000
_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")
# the DAG's own attributes: not inherited by its nodes
_OWN = frozenset(s.lower() for s in (
    "Type", "JobType", "Nodes", "Dependencies", "DefaultNodeRetryCount",
    "DefaultNodeShallowRetryCount", "max_nodes_running", "NodesCollocation"))
_NODE_KEYS = frozenset(("file", "description", "node_retry_count", "nodename",
                        "node_type"))


@dataclass(frozen=True, slots=True)
class JdlNode:
    name: str
    text: str  # the node's JDL: its ad, with the DAG's attributes it did not give
    source: str  # the file it was read from (the DAG's own for a description)
    parents: tuple[str, ...]


def _bad(text: str) -> InvalidRequest:
    return InvalidRequest(text)


def _node_ads(ad: Any) -> tuple[dict[str, Any], Any]:
    """The node ads by name, and the Dependencies expression's value (or None)."""
    raw = jdl._value(ad, "Nodes")
    deps = jdl._value(ad, "Dependencies") if "Dependencies" in ad else None
    out: dict[str, Any] = {}
    if isinstance(raw, classad2.ClassAd):
        for key in raw:
            if key.lower() == "dependencies":
                if deps is not None:
                    raise _bad("Dependencies: given twice (inside Nodes and beside it)")
                deps = raw.eval(key)
                continue
            node = raw.eval(key)
            if not isinstance(node, classad2.ClassAd):
                raise _bad(f"Nodes: {key}: a node is an ad ([ file = \"a.jdl\"; ])")
            out[key] = node
    elif isinstance(raw, list) and raw and all(isinstance(n, classad2.ClassAd) for n in raw):
        for i, node in enumerate(raw):
            name = jdl._text(node, "NodeName")
            if not name:
                raise _bad(f"Nodes: node {i + 1}: a node in a list gives its NodeName")
            if name in out:
                raise _bad(f"Nodes: {name!r}: two nodes of that name")
            out[name] = node
    else:
        raise _bad("Nodes: a DAG lists its nodes ([ nodeA = [ file = \"a.jdl\"; ]; ... ])")
    if not out:
        raise _bad("Nodes: the DAG has no node")
    if len(out) > MAX_NODES:
        raise _bad(f"Nodes: {len(out)} nodes is over the limit of {MAX_NODES}")
    for name in out:
        if not _NAME.match(name):
            raise _bad(f"Nodes: {name!r} is not a node name (letters, digits, _ . + -)")
    return out, deps


def _names(item: Any, nodes: Mapping[str, Any]) -> list[str]:
    """A side of a dependency: one node, or a list of them."""
    items = item if isinstance(item, list) else [item]
    out = []
    for x in items:
        if isinstance(x, list):
            raise _bad("Dependencies: a side is a node or a list of nodes, not deeper")
        name = str(x).strip()
        if name not in nodes:
            raise _bad(f"Dependencies: {name!r} is not a node of the DAG")
        out.append(name)
    return out


def _edges(deps: Any, nodes: Mapping[str, Any]) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    if deps is None:
        return parents
    if not isinstance(deps, list):
        raise _bad("Dependencies: a list of {parents, children} pairs")
    for pair in deps:
        if not isinstance(pair, list) or len(pair) != 2:
            raise _bad(f"Dependencies: {pair}: a pair {{parents, children}}")
        for child in _names(pair[1], nodes):
            for parent in _names(pair[0], nodes):
                if parent == child:
                    raise _bad(f"Dependencies: {parent!r} depends on itself")
                if parent not in parents[child]:
                    parents[child].append(parent)
    _no_cycle(parents)
    return parents


def _no_cycle(parents: Mapping[str, list[str]]) -> None:
    state: dict[str, int] = {}
    for start in parents:
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            name, i = stack.pop()
            if i == 0:
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise _bad("Dependencies: a cycle: " + " -> ".join([*trail, name]))
                state[name] = 1
                trail.append(name)
            ps = parents[name]
            if i < len(ps):
                stack.append((name, i + 1))
                stack.append((ps[i], 0))
            else:
                state[name] = 2
                trail.pop()


def _node_jdl(name: str, node: Any, source: str, base: str) -> tuple[Any, str]:
    """The node's own ad and the file it comes from."""
    for key in node:
        if key.lower() not in _NODE_KEYS:
            raise _bad(f"Nodes: {name}: {key!r} is not a node attribute (file, "
                       "description, node_retry_count)")
    has_file, has_desc = "file" in node, "description" in node
    if has_file == has_desc:
        raise _bad(f"Nodes: {name}: give its file or its description (one of them)")
    if has_file:
        rel = jdl._text(node, "file", required=True)
        assert rel is not None
        path = os.path.normpath(os.path.join(base, rel.removeprefix("file://")))
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise _bad(f"Nodes: {name}: file {rel!r}: cannot read it "
                       f"({getattr(e, 'strerror', None) or e})") from None
        try:
            own = jdl.read_ad(text, rel)
        except InvalidRequest as e:
            raise _bad(f"Nodes: {name}: {e}") from None
        return own, path
    desc = jdl._value(node, "description")
    if not isinstance(desc, classad2.ClassAd):
        raise _bad(f"Nodes: {name}: description is an ad ([ Executable = ...; ])")
    return classad2.ClassAd(str(desc)), source


def _merged(name: str, own: Any, src: str, node: Any, dag: Any, base: str) -> Any:
    """The node's ad with what it inherits: the DAG's attributes it lacks (a relative
    InputSandbox made absolute, from the DAG's directory) and its retry counts."""
    src_base = os.path.dirname(src)
    for key in dag:
        if key.lower() in _OWN or key in own:
            continue
        if key.lower() == "inputsandbox" and src_base != base:
            files = jdl._texts(dag, key)
            own[key] = [f if f.startswith("/") or "://" in f
                        else os.path.normpath(os.path.join(base, f)) for f in files]
        else:
            own[key] = dag.lookup(key)
    retry = jdl._int(node, "node_retry_count", 0, 10_000)
    if retry is not None:
        own["RetryCount"] = retry
    for default, attr in (("DefaultNodeRetryCount", "RetryCount"),
                          ("DefaultNodeShallowRetryCount", "ShallowRetryCount")):
        value = jdl._int(dag, default, 0, 10_000)
        if value is not None and attr not in own:
            own[attr] = value
    kind = jdl._job_type(own)
    if kind not in jdl.SINGLE:
        raise _bad(f"Nodes: {name}: a DAG's node is a Normal, MPICH or Checkpointable "
                   f"job, not {kind}")
    return own


def read_dag(ad: Any, source: str) -> dict[str, JdlNode]:
    """The DAG's nodes, parents before children where the order is free (the JDL's);
    each node's JDL is checked as a job would be (its files must exist)."""
    base = os.path.dirname(os.path.abspath(source))
    ads, deps = _node_ads(ad)
    parents = _edges(deps, ads)
    out: dict[str, JdlNode] = {}
    for name, node in ads.items():
        own, src = _node_jdl(name, node, os.path.abspath(source), base)
        merged = _merged(name, own, src, node, ad, base)
        text = str(merged)
        try:
            jdl.jdl_jobs(text, source=src, cwd=base, environ={})
        except InvalidRequest as e:
            raise _bad(f"Nodes: {name}: {str(e).removeprefix(src + ': ')}") from None
        out[name] = JdlNode(name, text, src, tuple(parents[name]))
    return out


def read_dag_file(path: Path) -> dict[str, JdlNode]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    ad = jdl.read_ad(text, str(path))
    if jdl._job_type(ad) != "DAG":
        raise _bad(f"{path}: Type: not a DAG JDL")
    try:
        return read_dag(ad, str(path))
    except InvalidRequest as e:
        raise _bad(f"{path}: {e}") from None


def dag_jobs(ad: Any, *, source: str, cwd: str, environ: Mapping[str, str]
             ) -> dict[str, Any]:
    """The one job a DAG JDL makes: its manager, which submits the nodes as their
    parents succeed (the DAG is checked first). A DAG is read from a file: its rescue
    file is written beside it."""
    if source == "-":
        raise _bad("Type: a DAG JDL is submitted from a file (its rescue file, "
                   "FILE.rescue001, is written beside it)")
    read_dag(ad, source)
    path = Path(source).resolve()
    req = manager_request(path, rescue=True, environ=environ)
    req["jdl"] = str(ad)
    return req
