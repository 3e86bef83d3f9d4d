"""The associations in the store (corral.model.assoc): read whole at start-up, and
written whole after each change (they are few, and change rarely)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from corral.model.assoc import Account, Assoc, AssocTree, Qos, User
from corral.store.schema import accounts, assoc_users, associations, qos_defs


def _qos_list(text: str) -> tuple[str, ...]:
    return tuple(q for q in text.split(",") if q)


def load_tree(conn: Connection) -> AssocTree:
    tree = AssocTree()
    accs = dict(tree.accounts)
    for r in conn.execute(select(accounts)).mappings():
        accs[r["name"]] = Account(
            name=r["name"], parent=r["parent"], shares=r["shares"],
            description=r["description"], organization=r["organization"],
            max_jobs=r["max_jobs"], max_cpus=r["max_cpus"], max_gpus=r["max_gpus"],
            max_wall_s=r["max_wall_s"], qos=_qos_list(r["qos"]), default_qos=r["default_qos"])
    users = {r["name"]: User(r["name"], r["default_account"])
             for r in conn.execute(select(assoc_users)).mappings()}
    assocs = {}
    for r in conn.execute(select(associations)).mappings():
        assocs[(r["user"], r["account"])] = Assoc(
            user=r["user"], account=r["account"], shares=r["shares"], max_jobs=r["max_jobs"],
            max_cpus=r["max_cpus"], max_gpus=r["max_gpus"], max_wall_s=r["max_wall_s"],
            qos=_qos_list(r["qos"]), default_qos=r["default_qos"])
    qos = {r["name"]: Qos(name=r["name"], description=r["description"],
                          priority=r["priority"], max_wall_s=r["max_wall_s"],
                          max_jobs_per_user=r["max_jobs_per_user"],
                          max_cpus_per_user=r["max_cpus_per_user"])
           for r in conn.execute(select(qos_defs)).mappings()}
    return AssocTree(accounts=accs, users=users, assocs=assocs, qos=qos)


def _row(obj: Account | Assoc) -> dict[str, Any]:
    d = {k: getattr(obj, k) for k in ("shares", "max_jobs", "max_cpus", "max_gpus",
                                      "max_wall_s", "default_qos")}
    d["qos"] = ",".join(obj.qos)
    return d


def save_tree(conn: Connection, tree: AssocTree) -> None:
    """Replace the stored associations with `tree`, in the caller's transaction."""
    for table in (associations, assoc_users, accounts, qos_defs):
        conn.execute(delete(table))
    rows = [{**_row(a), "name": a.name, "parent": a.parent, "description": a.description,
             "organization": a.organization} for a in tree.accounts.values()]
    if rows:
        conn.execute(insert(accounts), rows)
    users = [{"name": u.name, "default_account": u.default_account}
             for u in tree.users.values()]
    if users:
        conn.execute(insert(assoc_users), users)
    assocs = [{**_row(a), "user": a.user, "account": a.account} for a in tree.assocs.values()]
    if assocs:
        conn.execute(insert(associations), assocs)
    qos = [{"name": q.name, "description": q.description, "priority": q.priority,
            "max_wall_s": q.max_wall_s, "max_jobs_per_user": q.max_jobs_per_user,
            "max_cpus_per_user": q.max_cpus_per_user} for q in tree.qos.values()]
    if qos:
        conn.execute(insert(qos_defs), qos)
