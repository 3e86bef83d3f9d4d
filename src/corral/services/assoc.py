"""Associations at run time (corral.model.assoc): kept in the store, changed by
administrators (sacctmgr, `corral account`, /v1/accounts), and used at submit (who
may charge which account, the default account, per-job limits and QOS), by the
scheduler (running-job limits, the QOS defined at run time, fair-share over the
account tree) and by `sshare`.

Enforcement (`[accounting] enforce_associations`): true, every submission needs an
association of its owner with its account; false, never; unset, as soon as any user
association exists. Administrators submitting for themselves are not held to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from corral.model.assoc import Assoc, AssocTree
from corral.model.errors import Infeasible, NotFound, PermissionDenied
from corral.model.units import UNLIMITED_S, format_duration_s
from corral.sched.fairshare import ShareNode, ShareRow, tree_fairshare
from corral.sched.types import Limits
from corral.services.authz import Action, allows, authorize
from corral.services.identity import Caller
from corral.services.submit import Resolved
from corral.store import assoc as store_assoc

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.accounts")
CLUSTER = "corral"  # the cluster's name, as scontrol show config says it


class Associations:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.tree = AssocTree()
        self._limits_for: tuple[AssocTree, Limits, Limits] | None = None  # (tree, base, out)

    async def load(self) -> None:
        self.tree = await self.ctl.writer.read(store_assoc.load_tree)

    # ---- changes ----------------------------------------------------------------
    def config_qos(self) -> list[str]:
        return [q.name for q in self.ctl.cfg.qos]

    async def change(self, caller: Caller, what: str,
                     apply: Callable[[AssocTree], AssocTree]) -> AssocTree:
        """Apply a change of the tree (an administrator's), durable before it is seen."""
        authorize(caller, Action.MANAGE_ACCOUNTS, what=what)
        new = apply(self.tree)
        await self.ctl.persist(lambda conn: store_assoc.save_tree(conn, new))
        self.tree = new
        log.info("associations: %s by %s", what, caller.user)
        self.ctl.kick()
        return new

    # ---- submissions ----------------------------------------------------------
    def enforced(self) -> bool:
        mode = self.ctl.cfg.accounting.enforce_associations
        return self.tree.configured if mode is None else mode

    def admit(self, caller: Caller, user: str, res: Resolved) -> Resolved:
        """The submission with its default account (and QOS) filled in; refused when
        the owner may not use its account or it is over an association's limit."""
        tree = self.tree
        spec = res.spec
        account = spec.account or tree.default_account(user)
        exempt = caller.is_admin and caller.user == user
        if not self.enforced() or exempt:
            if account is not None and account != spec.account:
                spec = dataclasses.replace(spec, account=account)
            return dataclasses.replace(res, spec=spec)
        if account is None or not tree.accounts_of(user):
            raise PermissionDenied(f"account: user {user!r} has no account association "
                                   f"(an administrator adds one: sacctmgr add user {user} "
                                   "account=NAME)")
        if (user, account) not in tree.assocs:
            have = ", ".join(tree.accounts_of(user)) or "none"
            if account not in tree.accounts:
                raise PermissionDenied(f"account: no account named {account!r} "
                                       f"(user {user!r} may use: {have})")
            raise PermissionDenied(f"account: user {user!r} may not use account "
                                   f"{account!r} (may use: {have})")
        lim = tree.limits(user, account)
        where = f"association {user}/{account}"
        cpus = spec.cpus_per_node * spec.nodes
        gpus = spec.gpus_per_node * spec.nodes
        if lim.max_cpus is not None and cpus > lim.max_cpus:
            raise Infeasible(f"cpus: asks {cpus} CPUs; {where} allows {lim.max_cpus} per job "
                             "(MaxTRES cpu)")
        if lim.max_gpus is not None and gpus > lim.max_gpus:
            raise Infeasible(f"gpus: asks {gpus} GPUs; {where} allows {lim.max_gpus} per job "
                             "(MaxTRES gres/gpu)")
        time_limit_s = res.time_limit_s
        if lim.max_wall_s is not None:
            # as Slurm: a job that gave no limit (or an unlimited one) gets MaxWall
            if time_limit_s == UNLIMITED_S or (spec.time_limit_s is None
                                               and time_limit_s > lim.max_wall_s):
                time_limit_s = lim.max_wall_s
            elif time_limit_s > lim.max_wall_s:
                raise Infeasible(f"time_limit_s: asks {format_duration_s(time_limit_s)}; "
                                 f"{where} allows {format_duration_s(lim.max_wall_s)} "
                                 "(MaxWall)")
        allowed, default_qos = tree.qos_of(user, account)
        qos = spec.qos or default_qos
        if qos is not None and allowed and qos not in allowed:
            raise PermissionDenied(f"qos: {where} may not use QOS {qos!r} "
                                   f"(may use: {', '.join(allowed)})")
        q = tree.qos.get(qos) if qos else None
        if q is not None and q.max_wall_s is not None and (
                time_limit_s == UNLIMITED_S or time_limit_s > q.max_wall_s):
            raise Infeasible(f"time_limit_s: QOS {qos!r} allows "
                             f"{format_duration_s(q.max_wall_s)} (MaxWall)")
        spec = dataclasses.replace(spec, account=account, qos=qos)
        return dataclasses.replace(res, spec=spec, time_limit_s=time_limit_s)

    def qos_names(self) -> list[str]:
        return [*self.config_qos(), *sorted(self.tree.qos)]

    def check_qos(self, qos: str) -> None:
        names = self.qos_names()
        if qos not in names:
            raise NotFound(f"qos: no QOS named {qos!r} (have: "
                           f"{', '.join(names) or 'none configured'})")

    # ---- the scheduler ---------------------------------------------------------
    def qos_priority(self) -> dict[str, float]:
        out = {q.name: float(q.priority) for q in self.tree.qos.values()}
        out.update({q.name: q.priority for q in self.ctl.cfg.qos})
        return out

    def limits(self, base: Limits) -> Limits:
        """The site's limits with the associations' and run-time QOS' added."""
        cached = self._limits_for
        if cached is not None and cached[0] is self.tree and cached[1] is base:
            return cached[2]
        tree = self.tree
        assoc_max_jobs = {(u, a): lim.max_jobs for (u, a) in tree.assocs
                          if (lim := tree.limits(u, a)).max_jobs is not None}
        qos_jobs = {q.name: q.max_jobs_per_user for q in tree.qos.values()
                    if q.max_jobs_per_user}
        qos_cpus = {q.name: q.max_cpus_per_user for q in tree.qos.values()
                    if q.max_cpus_per_user}
        out = base
        if assoc_max_jobs or qos_jobs or qos_cpus:
            out = dataclasses.replace(
                base, assoc_max_jobs=assoc_max_jobs,
                qos_max_jobs_per_user={**qos_jobs, **base.qos_max_jobs_per_user},
                qos_max_cpus_per_user={**qos_cpus, **base.qos_max_cpus_per_user})
        self._limits_for = (tree, base, out)
        return out

    def shares(self, now: float) -> dict[tuple[str, str], ShareRow]:
        """sshare's rows: the tree with decayed usage and fair-share factors."""
        tree = self.tree
        nodes = [ShareNode(a.name, "", a.parent, a.shares) for a in tree.accounts.values()]
        nodes += [ShareNode(a.account, a.user, a.account, a.shares)
                  for a in tree.assocs.values()]
        return tree_fairshare(nodes, self.ctl.usage.by_association(now))

    def factors(self, now: float) -> dict[tuple[str, str], float]:
        """Fair-share factors over the tree (empty while the tree is only root)."""
        if len(self.tree.accounts) <= 1:
            return {}
        return {k: r.fairshare for k, r in self.shares(now).items()}

    # ---- reading ------------------------------------------------------------------
    def view(self, caller: Caller, *, users: Iterable[str] = (),
             accounts: Iterable[str] = ()) -> dict[str, Any]:
        """The associations as the REST API answers them: all of them for operators
        and administrators; a user sees the accounts and their own associations."""
        tree = self.tree
        everything = allows(caller, Action.READ_ACCOUNTS)
        want_users, want_accounts = set(users), set(accounts)
        assocs = [a for a in tree.assocs.values()
                  if (everything or a.user == caller.user)
                  and (not want_users or a.user in want_users)
                  and (not want_accounts or a.account in want_accounts)]
        depth = {a.name: tree.depth(a.name) for a in tree.accounts.values()}
        order = {id(node): i for i, (_, node) in enumerate(tree.walk())}
        accs = sorted((a for a in tree.accounts.values()
                       if not want_accounts or a.name in want_accounts),
                      key=lambda a: order.get(id(a), len(order)))
        return {
            "cluster": CLUSTER,
            "enforced": self.enforced(),
            "accounts": [{**dataclasses.asdict(a), "qos": list(a.qos), "depth": depth[a.name]}
                         for a in accs],
            "users": [dataclasses.asdict(u) for u in sorted(tree.users.values(),
                                                            key=lambda u: u.name)
                      if (everything or u.name == caller.user)
                      and (not want_users or u.name in want_users)],
            "associations": [{**dataclasses.asdict(a), "qos": list(a.qos)}
                             for a in sorted(assocs, key=lambda a: (a.account, a.user))],
            "qos": [dataclasses.asdict(q) for q in sorted(tree.qos.values(),
                                                          key=lambda q: q.name)]
            + [{"name": q.name, "description": "from the configuration",
                "priority": q.priority, "max_wall_s": None,
                "max_jobs_per_user": q.max_jobs_per_user or None,
                "max_cpus_per_user": q.max_cpus_per_user or None}
               for q in self.ctl.cfg.qos],
        }

    def share_view(self, caller: Caller, now: float | None = None) -> list[dict[str, Any]]:
        """sshare's rows in tree order (depth first), each with its depth."""
        rows = self.shares(time.time() if now is None else now)
        out = []
        for depth, node in self.tree.walk():
            user, account = ((node.user, node.account) if isinstance(node, Assoc)
                             else ("", node.name))
            r = rows.get((account, user))
            if r is None:
                continue
            out.append({"account": account, "user": user, "depth": depth,
                        "raw_shares": r.raw_shares, "norm_shares": r.norm_shares,
                        "raw_usage": r.raw_usage, "effective_usage": r.effective_usage,
                        "fairshare": r.fairshare})
        return out
