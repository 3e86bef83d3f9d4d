"""Node rows: what the controller remembers about each node across restarts.

Only the facts are stored (inventory, drain, last seen); reachability and usage
are rebuilt at run time from agents and running jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select, update

from corral.model.node import Node
from corral.store.dialect import upsert
from corral.store.schema import nodes


def upsert_node(conn: Connection, node: Node) -> None:
    """Insert the node or overwrite its stored facts."""
    upsert(conn, nodes, {
        "name": node.name,
        "cpus": node.cpus,
        "mem_mb": node.mem_mb,
        "gpus": node.gpus,
        "features": ",".join(node.features),
        "drain": bool(node.drain),
        "drain_reason": node.drain_reason,
        "drain_by": node.drain_by,
        "t_last_seen": node.t_last_seen,
    }, keys=["name"])


def _node(row: Row[Any]) -> Node:
    return Node(
        name=row.name,
        cpus=int(row.cpus),
        mem_mb=int(row.mem_mb),
        gpus=int(row.gpus),
        features=tuple(row.features.split(",")) if row.features else (),
        drain=bool(row.drain),
        drain_reason=row.drain_reason,
        drain_by=row.drain_by,
        t_last_seen=float(row.t_last_seen),
    )


def load_nodes(conn: Connection) -> list[Node]:
    """Every stored node, ordered by name (reachable False, nothing in use)."""
    return [_node(r) for r in conn.execute(select(nodes).order_by(nodes.c.name))]


def set_boot_id(conn: Connection, name: str, boot_id: str) -> None:
    """Remember the agent process (its boot id) that registered last for the node."""
    conn.execute(update(nodes).where(nodes.c.name == name).values(boot_id=boot_id[:64]))


def load_boot_ids(conn: Connection) -> dict[str, str]:
    """Each stored node's last registered agent process."""
    return {r.name: r.boot_id for r in conn.execute(select(nodes.c.name, nodes.c.boot_id))}


def delete_node(conn: Connection, name: str) -> bool:
    """Forget a node; True when it was stored."""
    return bool(conn.execute(nodes.delete().where(nodes.c.name == name)).rowcount)
