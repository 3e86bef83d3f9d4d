"""sinfo: partitions and nodes in Slurm's layouts (default, -N, -o, -h, -s)."""

from __future__ import annotations

import json
from typing import Any

from corral.compat import fmt, frontend, hostlist, timefmt
from corral.compat.fmt import Getter
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm.sbatch import SLURM_VERSION

PROG = "sinfo"
TABLE = [
    Opt("Node", "node", NONE, "N"), Opt("noheader", "noheader", NONE, "h"),
    Opt("format", "format", REQUIRED, "o"), Opt("partition", "partition", REQUIRED, "p"),
    Opt("nodes", "nodes", REQUIRED, "n"), Opt("states", "states", REQUIRED, "t"),
    Opt("long", "long", NONE, "l"), Opt("summarize", "summarize", NONE, "s"),
    Opt("list-reasons", "reasons", NONE, "R"), Opt("dead", "dead", NONE, "d"),
    Opt("responding", "responding", NONE, "r"), Opt("json", "json", NONE),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE),
    Opt("usage", "help", NONE), Opt("all", "ignored", NONE, "a"),
    Opt("exact", "ignored", NONE, "e"), Opt("iterate", "ignored", REQUIRED, "i"),
    Opt("clusters", "ignored", REQUIRED, "M"), Opt("verbose", "ignored", NONE, "v"),
    Opt("hide", "ignored", NONE), Opt("local", "ignored", NONE),
    Opt("federation", "ignored", NONE), Opt("noconvert", "ignored", NONE),
]
SHORT = {"IDLE": "idle", "MIXED": "mix", "ALLOCATED": "alloc", "DOWN": "down",
         "DRAINING": "drng", "DRAINED": "drain"}
LONG_NAMES = {"IDLE": "idle", "MIXED": "mixed", "ALLOCATED": "allocated", "DOWN": "down",
              "DRAINING": "draining", "DRAINED": "drained"}


def _cpus_aiot(g: dict[str, Any]) -> str:
    a = sum(n["cpus_used"] for n in g["nodes"])
    t = sum(n["cpus"] for n in g["nodes"])
    o = sum(n["cpus"] - n["cpus_used"] for n in g["nodes"] if n["state"] in
            ("DOWN", "DRAINED", "DRAINING"))
    return f"{a}/{t - a - o}/{o}/{t}"


def _nodes_aiot(g: dict[str, Any]) -> str:
    a = sum(1 for n in g["nodes"] if n["state"] in ("ALLOCATED", "MIXED"))
    i = sum(1 for n in g["nodes"] if n["state"] == "IDLE")
    t = len(g["nodes"])
    return f"{a}/{i}/{t - a - i}/{t}"


def _first(key: str) -> Getter:
    return lambda g: str(g["nodes"][0][key]) if g["nodes"] else "0"


def _limit(seconds: int | None) -> str:
    return "infinite" if not seconds else timefmt.compact(seconds)


LETTERS: dict[str, tuple[str, Getter]] = {
    "P": ("PARTITION", lambda g: g["partition"] + ("*" if g["default"] else "")),
    "R": ("PARTITION", lambda g: g["partition"]),
    "a": ("AVAIL", lambda g: "up"),
    "l": ("TIMELIMIT", lambda g: _limit(g["max_time_s"])),
    "L": ("DEFAULTTIME", lambda g: _limit(g["default_time_s"]) if g["default_time_s"]
          else "n/a"),
    "D": ("NODES", lambda g: str(len(g["nodes"]))),
    "t": ("STATE", lambda g: SHORT.get(g["state"], g["state"].lower())),
    "T": ("STATE", lambda g: LONG_NAMES.get(g["state"], g["state"].lower())),
    "N": ("NODELIST", lambda g: hostlist.compress([n["name"] for n in g["nodes"]])),
    "n": ("HOSTNAMES", lambda g: ",".join(n["name"] for n in g["nodes"])),
    "o": ("NODE_ADDR", lambda g: ",".join(n["name"] for n in g["nodes"])),
    "c": ("CPUS", _first("cpus")),
    "C": ("CPUS(A/I/O/T)", _cpus_aiot),
    "F": ("NODES(A/I/O/T)", _nodes_aiot),
    "m": ("MEMORY", _first("mem_mb")),
    "e": ("FREE_MEM", lambda g: str(sum(n["mem_mb"] - n["mem_mb_used"] for n in g["nodes"]))),
    "O": ("CPU_LOAD", lambda g: "N/A"),
    "G": ("GRES", lambda g: f"gpu:{g['nodes'][0]['gpus']}" if g["nodes"]
          and g["nodes"][0]["gpus"] else "(null)"),
    "f": ("AVAIL_FEATURES", lambda g: ",".join(g["nodes"][0]["features"]) if g["nodes"]
          and g["nodes"][0]["features"] else "(null)"),
    "E": ("REASON", lambda g: g["nodes"][0]["drain_reason"] or "none" if g["nodes"]
          else "none"),
    "s": ("JOB_SIZE", lambda g: "1-infinite" if not g["max_nodes"]
          else f"1-{g['max_nodes']}"),
    "z": ("S:C:T", lambda g: "1:" + _first("cpus")(g) + ":1"),
    "h": ("OVERSUBSCRIBE", lambda g: "NO"),
    "g": ("GROUPS", lambda g: "all"),
    "r": ("ROOT", lambda g: "no"),
    "w": ("WEIGHT", lambda g: "1"),
}
DEFAULT = "%9P %.5a %.10l %.6D %.6t %N"
NODE = "%10N %.6D %.9P %6t"
LONG = "%9P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N"
SUMMARIZE = "%9P %.5a %.10l %.15F  %N"
REASONS = "%20E %9u %19H %N"


def _groups(parts: list[dict[str, Any]], nodes: dict[str, dict[str, Any]],
            cols: list[fmt.Column], by_node: bool, by_state: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        members = [nodes[n] for n in p["nodes"] if n in nodes]
        base = {k: p.get(k) for k in ("default_time_s", "max_time_s", "max_nodes")}
        base.update(partition=p["name"], default=p["default"])
        if by_node:
            out.extend(dict(base, nodes=[n], state=n["state"]) for n in members)
            continue
        if not by_state:
            out.append(dict(base, nodes=members, state=members[0]["state"] if members
                            else "DOWN"))
            continue
        seen: dict[tuple[str, ...], dict[str, Any]] = {}
        for n in members:
            probe = dict(base, nodes=[n], state=n["state"])
            key = tuple(c.get(probe) for c in cols if c.get is not None
                        and c.header not in ("NODELIST", "NODES", "HOSTNAMES", "NODE_ADDR"))
            if key in seen:
                seen[key]["nodes"].append(n)
            else:
                seen[key] = probe
                out.append(probe)
        if not members:
            out.append(dict(base, nodes=[], state="DOWN"))
    return out


def sinfo(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if operands:
        raise frontend.Exit(1, f"sinfo: error: Unrecognized option: {operands[0]}")
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o:
        print("Usage: sinfo [-N] [-h] [-l] [-s] [-o format] [-p partitions] [-n nodes]"
              " [-t states]")
        return 0
    with frontend.client() as c:
        parts = c.partitions()
        node_list = c.nodes()
    if o.get("partition"):
        want = set(o["partition"].split(","))
        parts = [p for p in parts if p["name"] in want]
    nodes = {n["name"]: n for n in node_list}
    if o.get("nodes"):
        keep = set(hostlist.expand(o["nodes"]))
        nodes = {k: n for k, n in nodes.items() if k in keep}
    states = {s.strip().upper() for s in (o.get("states") or "").split(",") if s.strip()}
    if "dead" in o:
        states |= {"DOWN"}
    if states:
        by_short = {v.upper(): k for k, v in SHORT.items()}
        wanted = {by_short.get(s, s) for s in states} | states
        wanted |= {"DRAINED", "DRAINING"} if "DRAIN" in states else set()
        nodes = {k: n for k, n in nodes.items() if n["state"] in wanted}
    if "responding" in o:
        nodes = {k: n for k, n in nodes.items() if n["state"] != "DOWN"}
    if "json" in o:
        print(json.dumps({"partitions": parts, "nodes": list(nodes.values())}, indent=2))
        return 0
    text = o.get("format") or (NODE if "node" in o else SUMMARIZE if "summarize" in o
                               else LONG if "long" in o else DEFAULT)
    try:
        cols = fmt.parse_percent(text, LETTERS)
    except ValueError as e:
        raise frontend.Exit(1, f"sinfo: error: {e}") from None
    groups = _groups(parts, nodes, cols, by_node="node" in o,
                     by_state="summarize" not in o)
    if (nodes or not o.get("nodes")) and (states or o.get("nodes")):
        groups = [g for g in groups if g["nodes"]]
    for line in fmt.render(cols, groups, header="noheader" not in o):
        print(line)
    return 0


def main() -> None:
    frontend.run(PROG, sinfo, error_prefix="")


if __name__ == "__main__":
    main()
