"""sinfo: partitions and nodes in Slurm's layouts (default, -N, -o, -h, -s)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from corral.compat import fmt, frontend, timefmt
from corral.compat.fmt import Getter
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model import hostlist
from corral.model.gres import node_text

PROG = "sinfo"
TABLE = [
    Opt("Node", "node", NONE, "N"), Opt("noheader", "noheader", NONE, "h"),
    Opt("format", "format", REQUIRED, "o"), Opt("Format", "Format", REQUIRED, "O"),
    Opt("partition", "partition", REQUIRED, "p"),
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


def _nodes_ai(g: dict[str, Any]) -> str:
    a, i, _, _ = _nodes_aiot(g).split("/")
    return f"{a}/{i}"


def _node0(key: str, default: str, show: Any = str) -> Getter:
    return lambda g: show(g["nodes"][0][key]) if g["nodes"] and g["nodes"][0][key] \
        else default


def _features(g: dict[str, Any]) -> str:
    return _node0("features", "(null)", ",".join)(g)


def _gres_used(g: dict[str, Any]) -> str:
    """What the group's running jobs hold: 'gpu:3,nvme:1' (every kind the nodes have)."""
    used: dict[str, int] = {}
    for n in g["nodes"]:
        for k in n.get("gres") or {}:
            used[k] = used.get(k, 0) + (n.get("gres_used") or {}).get(k, 0)
    items = [f"gpu:{sum(n['gpus_used'] for n in g['nodes'])}"] \
        if any(n["gpus"] for n in g["nodes"]) else []
    return ",".join(items + [f"{k}:{v}" for k, v in sorted(used.items())])


def _reservation(g: dict[str, Any]) -> str:
    names = {r for n in g["nodes"] for r in n.get("_reservations", ())}
    return ",".join(sorted(names))


LETTERS: dict[str, tuple[str, Getter]] = {
    "a": ("AVAIL", lambda g: "up"),
    "A": ("NODES(A/I)", _nodes_ai),
    "b": ("ACTIVE_FEATURES", _features),
    "B": ("MAX_CPUS_PER_NODE", lambda g: str(g["max_cpus_per_node"] or "UNLIMITED")),
    "c": ("CPUS", _first("cpus")),
    "C": ("CPUS(A/I/O/T)", _cpus_aiot),
    "d": ("TMP_DISK", lambda g: "0"),
    "D": ("NODES", lambda g: str(len(g["nodes"]))),
    "e": ("FREE_MEM", lambda g: str(sum(n["mem_mb"] - n["mem_mb_used"] for n in g["nodes"]))),
    "E": ("REASON", _node0("drain_reason", "none")),
    "f": ("AVAIL_FEATURES", _features),
    "F": ("NODES(A/I/O/T)", _nodes_aiot),
    "g": ("GROUPS", lambda g: ",".join(g["allow_groups"]) or "all"),
    "G": ("GRES", lambda g: node_text(g["nodes"][0]["gpus"], g["nodes"][0].get("gres") or {})
          or "(null)" if g["nodes"] else "(null)"),
    "h": ("OVERSUBSCRIBE", lambda g: "NO"),
    "H": ("TIMESTAMP", lambda g: "Unknown"),  # corral keeps no time with a drain reason
    "i": ("RESERVATION", _reservation),
    "I": ("PRIO_JOB_FACTOR", lambda g: "1"),
    "l": ("TIMELIMIT", lambda g: _limit(g["max_time_s"])),
    "L": ("DEFAULTTIME", lambda g: _limit(g["default_time_s"]) if g["default_time_s"]
          else "n/a"),
    "m": ("MEMORY", _first("mem_mb")),
    "M": ("PREEMPT_MODE", lambda g: str(g["preempt_mode"] or "off").upper()),
    "n": ("HOSTNAMES", lambda g: ",".join(n["name"] for n in g["nodes"])),
    "N": ("NODELIST", lambda g: hostlist.compress([n["name"] for n in g["nodes"]])),
    "o": ("NODE_ADDR", lambda g: ",".join(n["name"] for n in g["nodes"])),
    "O": ("CPU_LOAD", lambda g: "N/A"),
    "p": ("PRIO_TIER", lambda g: str(g["priority_tier"] or 0)),
    "P": ("PARTITION", lambda g: g["partition"] + ("*" if g["default"] else "")),
    "r": ("ROOT", lambda g: "no"),
    "R": ("PARTITION", lambda g: g["partition"]),
    "s": ("JOB_SIZE", lambda g: "1-infinite" if not g["max_nodes"]
          else f"1-{g['max_nodes']}"),
    "S": ("ALLOCNODES", lambda g: "all"),
    "t": ("STATE", lambda g: SHORT.get(g["state"], g["state"].lower())),
    "T": ("STATE", lambda g: LONG_NAMES.get(g["state"], g["state"].lower())),
    "u": ("USER", lambda g: "Unknown"),  # nor who set it
    "U": ("USER", lambda g: "Unknown"),
    "v": ("VERSION", lambda g: g["version"]),
    "V": ("CLUSTER", lambda g: "corral"),
    "w": ("WEIGHT", lambda g: "1"),
    "X": ("SOCKETS", lambda g: "1"),  # a node is counted as one socket of its CPUs
    "Y": ("CORES", _first("cpus")),
    "z": ("S:C:T", lambda g: "1:" + _first("cpus")(g) + ":1"),
    "Z": ("THREADS", lambda g: "1"),
}
# -O/--Format names (matched without case) -> the letter with the same output
_NAMED_LETTERS = {
    "AllocNodes": "S", "Available": "a", "Cluster": "V", "Cores": "Y", "CPUs": "c",
    "CPUsLoad": "O", "CPUsState": "C", "DefaultTime": "L", "Disk": "d", "Features": "f",
    "features_act": "b", "FreeMem": "e", "Gres": "G", "Groups": "g",
    "MaxCPUsPerNode": "B", "Memory": "m", "NodeAddr": "o", "NodeAI": "A",
    "NodeAIOT": "F", "NodeHost": "n", "NodeList": "N", "Nodes": "D", "OverSubscribe": "h",
    "Partition": "P", "PartitionName": "R", "PreemptMode": "M", "PriorityJobFactor": "I",
    "PriorityTier": "p", "Reason": "E", "Reservation": "i", "Root": "r", "Share": "h",
    "Size": "s", "Sockets": "X", "SocketCoreThread": "z", "StateCompact": "t",
    "StateLong": "T", "Threads": "Z", "Time": "l", "TimeStamp": "H", "User": "u",
    "UserLong": "U", "Version": "v", "Weight": "w",
}
NAMED: dict[str, tuple[str, Getter]] = {name: LETTERS[letter]
                                        for name, letter in _NAMED_LETTERS.items()}
NAMED.update({
    "AllocMem": ("ALLOCMEM", lambda g: str(sum(n["mem_mb_used"] for n in g["nodes"]))),
    "GresUsed": ("GRES_USED", lambda g: _gres_used(g) or "(null)"),
    "StateComplete": ("STATECOMPLETE", LETTERS["T"][1]),
    "Comment": ("COMMENT", lambda g: ""), "Extra": ("EXTRA", lambda g: ""),
    "Port": ("PORT", lambda g: "0"),
})
DEFAULT = "%9P %.5a %.10l %.6D %.6t %N"
NODE = "%10N %.6D %.9P %6t"
LONG = "%9P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N"
SUMMARIZE = "%9P %.5a %.10l %.15F  %N"
REASONS = "%20E %9u %19H %N"


def _groups(parts: list[dict[str, Any]], nodes: dict[str, dict[str, Any]],
            cols: list[fmt.Column], by_node: bool, by_state: bool,
            version: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        members = [nodes[n] for n in p["nodes"] if n in nodes]
        base = {k: p.get(k) for k in ("default_time_s", "max_time_s", "max_nodes",
                                      "max_cpus_per_node", "priority_tier", "preempt_mode")}
        base.update(allow_groups=p.get("allow_groups") or [], version=version)
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
    text = o.get("format") or (NODE if "node" in o else SUMMARIZE if "summarize" in o
                               else LONG if "long" in o else DEFAULT)
    try:
        if o.get("Format"):
            cols = fmt.parse_named(o["Format"], NAMED, sep="")
        else:
            cols = fmt.parse_percent(text, LETTERS, invalid=lambda letter: print(
                f"Invalid node format specification: {letter}", file=sys.stderr))
    except ValueError as e:
        raise frontend.Exit(1, f"sinfo: error: {e}") from None
    wants = {c.header for c in cols if c.get is not None}
    with frontend.client() as c:
        parts: list[dict[str, Any]] = list(c.partitions())
        node_list: list[dict[str, Any]] = list(c.nodes())
        version = str(c.status().get("version", "")) if "VERSION" in wants else ""
        if "RESERVATION" in wants:
            _mark_reservations(node_list, list(c.reservations()))
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
    groups = _groups(parts, nodes, cols, by_node="node" in o,
                     by_state="summarize" not in o, version=version)
    if (nodes or not o.get("nodes")) and (states or o.get("nodes")):
        groups = [g for g in groups if g["nodes"]]
    for line in fmt.render(cols, groups, header="noheader" not in o):
        print(line)
    return 0


def _mark_reservations(nodes: list[dict[str, Any]],
                       reservations: list[dict[str, Any]]) -> None:
    """Each node's reservations in force now (`_reservations`), for %i."""
    now = time.time()
    for n in nodes:
        n["_reservations"] = [r["name"] for r in reservations if n["name"] in r["nodes"]
                              and r["t_start"] <= now < r["t_end"]]


def main() -> None:
    frontend.run(PROG, sinfo, error_prefix="")


if __name__ == "__main__":
    main()
