"""Associations, as Slurm's: accounts in a tree under `root`, each with its shares of
the cluster among its siblings; users, each allowed some accounts (one association
per user and account, with shares among the account's users) and a default one;
limits and QOS lists on accounts and associations; and the QOS defined at run time.

A limit left unset (None) on an association is its account's, and an account's is
its parent's (Slurm's inheritance); so are the QOS lists. Limits: `max_jobs` is the
jobs of one user in the account running at once; `max_cpus`, `max_gpus` and
`max_wall_s` bound each job. Pure: changes return a new `AssocTree`, or raise a
domain error naming the field, the value and what was wrong.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.model.errors import Conflict, InvalidRequest, NotFound

ROOT = "root"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_SHARES = 1_000_000_000
MAX_TEXT = 256
LIMITS = ("max_jobs", "max_cpus", "max_gpus", "max_wall_s")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    parent: str | None  # None: the root account
    shares: int = 1
    description: str = ""
    organization: str = ""
    max_jobs: int | None = None
    max_cpus: int | None = None
    max_gpus: int | None = None
    max_wall_s: int | None = None
    qos: tuple[str, ...] = ()  # empty: its parent's
    default_qos: str | None = None


@dataclass(frozen=True, slots=True)
class Assoc:
    """A user's right to use an account."""

    user: str
    account: str
    shares: int = 1
    max_jobs: int | None = None
    max_cpus: int | None = None
    max_gpus: int | None = None
    max_wall_s: int | None = None
    qos: tuple[str, ...] = ()  # empty: the account's
    default_qos: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    name: str
    default_account: str


@dataclass(frozen=True, slots=True)
class Qos:
    name: str
    description: str = ""
    priority: int = 0
    max_wall_s: int | None = None  # per job
    max_jobs_per_user: int | None = None  # running at once
    max_cpus_per_user: int | None = None  # running at once


@dataclass(frozen=True, slots=True)
class Limits:
    """An association's limits after inheritance (None: unlimited)."""

    max_jobs: int | None = None
    max_cpus: int | None = None
    max_gpus: int | None = None
    max_wall_s: int | None = None


ACCOUNT_FIELDS = frozenset(f.name for f in dataclasses.fields(Account)) - {"name"}
ASSOC_FIELDS = frozenset(f.name for f in dataclasses.fields(Assoc)) - {"user", "account"}
QOS_FIELDS = frozenset(f.name for f in dataclasses.fields(Qos)) - {"name"}


def check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(f"{what}: {name!r} is not a name (1-64 letters, digits, _ . -)")
    return name


def _int(fname: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InvalidRequest(f"{fname}: {v!r} is not a whole number in {lo}..{hi}")
    return v


def _clean(fields: frozenset[str], changes: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Changes checked field by field: known names, values in range."""
    out: dict[str, Any] = {}
    for k, v in changes.items():
        if k not in fields:
            raise InvalidRequest(f"{k}: not a field of {what} (have: {', '.join(sorted(fields))})")
        if k in {"shares", "priority"}:
            out[k] = _int(k, v, 0, MAX_SHARES)
        elif k.startswith("max_"):
            out[k] = None if v is None else _int(k, v, 0, 2**31 - 1)
        elif k == "qos":
            if isinstance(v, str) or not isinstance(v, list | tuple):
                raise InvalidRequest(f"qos: {v!r} is not a list of QOS names")
            out[k] = tuple(dict.fromkeys(check_name("qos", q) for q in v))
        elif k in ("default_qos", "parent", "default_account"):
            out[k] = None if v is None else check_name(k, v)
        else:  # description, organization
            if not isinstance(v, str) or len(v) > MAX_TEXT or any(c in v for c in "\0\n|"):
                raise InvalidRequest(f"{k}: {v!r} is not a line of at most {MAX_TEXT} "
                                     "characters without '|'")
            out[k] = v
    return out


@dataclass(frozen=True, slots=True)
class AssocTree:
    accounts: Mapping[str, Account] = field(
        default_factory=lambda: {ROOT: Account(ROOT, None, description="default root account",
                                               organization=ROOT)})
    users: Mapping[str, User] = field(default_factory=dict)
    assocs: Mapping[tuple[str, str], Assoc] = field(default_factory=dict)  # (user, account)
    qos: Mapping[str, Qos] = field(default_factory=dict)

    # ---- reading ---------------------------------------------------------------
    @property
    def configured(self) -> bool:
        """Whether the site has defined any user association."""
        return bool(self.assocs)

    def children(self, account: str) -> list[Account]:
        return sorted((a for a in self.accounts.values() if a.parent == account),
                      key=lambda a: a.name)

    def users_of(self, account: str) -> list[Assoc]:
        return sorted((a for a in self.assocs.values() if a.account == account),
                      key=lambda a: a.user)

    def accounts_of(self, user: str) -> list[str]:
        return sorted(a.account for a in self.assocs.values() if a.user == user)

    def chain(self, account: str) -> list[Account]:
        """The account and its ancestors up to root."""
        out: list[Account] = []
        a = self.accounts.get(account)
        while a is not None and len(out) <= len(self.accounts):
            out.append(a)
            a = self.accounts.get(a.parent) if a.parent is not None else None
        return out

    def depth(self, account: str) -> int:
        return len(self.chain(account)) - 1

    def default_account(self, user: str) -> str | None:
        u = self.users.get(user)
        return u.default_account if u is not None else None

    def limits(self, user: str, account: str) -> Limits:
        """The association's limits, each from the nearest level that sets it."""
        levels: list[Assoc | Account] = []
        a = self.assocs.get((user, account))
        if a is not None:
            levels.append(a)
        levels.extend(self.chain(account))
        values: dict[str, int | None] = {}
        for name in LIMITS:
            values[name] = next((getattr(lv, name) for lv in levels
                                 if getattr(lv, name) is not None), None)
        return Limits(**values)

    def qos_of(self, user: str, account: str) -> tuple[tuple[str, ...], str | None]:
        """The QOS the association may use (empty: any) and its default QOS."""
        levels: list[Assoc | Account] = []
        a = self.assocs.get((user, account))
        if a is not None:
            levels.append(a)
        levels.extend(self.chain(account))
        allowed = next((lv.qos for lv in levels if lv.qos), ())
        default = next((lv.default_qos for lv in levels if lv.default_qos), None)
        return allowed, default

    def walk(self) -> list[tuple[int, Account | Assoc]]:
        """The tree depth first (accounts, then each account's users, then its
        sub-accounts), with each node's depth: sshare's and sacctmgr's order."""
        out: list[tuple[int, Account | Assoc]] = []

        def visit(acc: Account, depth: int) -> None:
            out.append((depth, acc))
            for u in self.users_of(acc.name):
                out.append((depth + 1, u))
            for child in self.children(acc.name):
                visit(child, depth + 1)
        visit(self.accounts[ROOT], 0)
        return out

    # ---- changing --------------------------------------------------------------
    def _with(self, **kw: Any) -> AssocTree:
        return dataclasses.replace(self, **kw)

    def _check_qos(self, names: Iterable[str], known_qos: Iterable[str]) -> None:
        known = set(self.qos) | set(known_qos)
        for q in names:
            if q not in known:
                raise NotFound(f"qos: no QOS named {q!r} (have: "
                               f"{', '.join(sorted(known)) or 'none'})")

    def add_account(self, name: str, changes: Mapping[str, Any],
                    known_qos: Iterable[str] = ()) -> AssocTree:
        check_name("account", name)
        if name in self.accounts:
            raise Conflict(f"account: {name!r} already exists")
        c = _clean(ACCOUNT_FIELDS, changes, "an account")
        parent = c.pop("parent", None) or ROOT
        if parent not in self.accounts:
            raise NotFound(f"parent: no account named {parent!r}")
        acc = Account(name, parent, **c)
        self._check_qos([*acc.qos, *filter(None, [acc.default_qos])], known_qos)
        return self._with(accounts={**self.accounts, name: acc})

    def modify_account(self, name: str, changes: Mapping[str, Any],
                       known_qos: Iterable[str] = ()) -> AssocTree:
        acc = self.accounts.get(name)
        if acc is None:
            raise NotFound(f"account: no account named {name!r}")
        c = _clean(ACCOUNT_FIELDS, changes, "an account")
        if "parent" in c:
            if name == ROOT:
                raise InvalidRequest("parent: the root account has none")
            parent = c["parent"] or ROOT
            if parent not in self.accounts:
                raise NotFound(f"parent: no account named {parent!r}")
            if any(a.name == name for a in self.chain(parent)):
                raise InvalidRequest(f"parent: {parent!r} is {name!r} or below it")
            c["parent"] = parent
        new = dataclasses.replace(acc, **c)
        self._check_qos([*new.qos, *filter(None, [new.default_qos])], known_qos)
        return self._with(accounts={**self.accounts, name: new})

    def delete_account(self, name: str) -> AssocTree:
        """The account and its users' associations with it; a user left with none is
        removed, one whose default it was gets their first other account."""
        if name == ROOT:
            raise InvalidRequest("account: the root account cannot be deleted")
        if name not in self.accounts:
            raise NotFound(f"account: no account named {name!r}")
        kids = self.children(name)
        if kids:
            raise Conflict(f"account: {name!r} has sub-accounts "
                           f"({', '.join(a.name for a in kids)}); delete or move them first")
        accounts = {k: v for k, v in self.accounts.items() if k != name}
        tree = self._with(accounts=accounts)
        for a in self.users_of(name):
            tree = tree.delete_assoc(a.user, name)
        return tree

    def add_user(self, user: str, accounts: list[str], changes: Mapping[str, Any],
                 default_account: str | None = None,
                 known_qos: Iterable[str] = ()) -> AssocTree:
        """Associate the user with each account (new ones only; an existing
        association is a conflict when it is the only one asked)."""
        check_name("user", user)
        if not accounts:
            raise InvalidRequest(f"account: user {user!r} needs an account (account=NAME)")
        c = _clean(ASSOC_FIELDS, changes, "a user's association")
        for acc in accounts:
            if acc not in self.accounts:
                raise NotFound(f"account: no account named {acc!r}")
        new = [a for a in accounts if (user, a) not in self.assocs]
        if not new:
            raise Conflict(f"user: {user!r} already has account(s) {', '.join(accounts)}")
        assocs = dict(self.assocs)
        for acc in new:
            assocs[(user, acc)] = Assoc(user, acc, **c)
            self._check_qos([*assocs[(user, acc)].qos,
                             *filter(None, [assocs[(user, acc)].default_qos])], known_qos)
        users = dict(self.users)
        default = default_account or (users[user].default_account if user in users
                                      else accounts[0])
        if (user, default) not in assocs:
            raise InvalidRequest(f"defaultaccount: user {user!r} has no association with "
                                 f"{default!r}")
        users[user] = User(user, default)
        return self._with(users=users, assocs=assocs)

    def modify_user(self, user: str, changes: Mapping[str, Any],
                    account: str | None = None, known_qos: Iterable[str] = ()) -> AssocTree:
        """Set the user's default account, and/or change their associations (all of
        them, or the one with `account`)."""
        if user not in self.users:
            raise NotFound(f"user: no user named {user!r}")
        c = dict(changes)
        tree: AssocTree = self
        if "default_account" in c:
            default = c.pop("default_account")
            check_name("defaultaccount", default)
            if (user, default) not in self.assocs:
                raise InvalidRequest(f"defaultaccount: user {user!r} has no association "
                                     f"with {default!r}")
            tree = tree._with(users={**self.users, user: User(user, default)})
        if c:
            c = _clean(ASSOC_FIELDS, c, "a user's association")
            names = [account] if account else self.accounts_of(user)
            assocs = dict(tree.assocs)
            for acc in names:
                old = assocs.get((user, acc))
                if old is None:
                    raise NotFound(f"account: user {user!r} has no association with {acc!r}")
                assocs[(user, acc)] = dataclasses.replace(old, **c)
                new = assocs[(user, acc)]
                self._check_qos([*new.qos, *filter(None, [new.default_qos])], known_qos)
            tree = tree._with(assocs=assocs)
        return tree

    def delete_assoc(self, user: str, account: str) -> AssocTree:
        if (user, account) not in self.assocs:
            raise NotFound(f"account: user {user!r} has no association with {account!r}")
        assocs = {k: v for k, v in self.assocs.items() if k != (user, account)}
        users = dict(self.users)
        left = sorted(a for (u, a) in assocs if u == user)
        if not left:
            users.pop(user, None)
        elif users[user].default_account == account:
            users[user] = User(user, left[0])
        return self._with(users=users, assocs=assocs)

    def delete_user(self, user: str) -> AssocTree:
        if user not in self.users:
            raise NotFound(f"user: no user named {user!r}")
        return self._with(users={k: v for k, v in self.users.items() if k != user},
                          assocs={k: v for k, v in self.assocs.items() if k[0] != user})

    def add_qos(self, name: str, changes: Mapping[str, Any],
                known_qos: Iterable[str] = ()) -> AssocTree:
        check_name("qos", name)
        if name in self.qos or name in set(known_qos):
            raise Conflict(f"qos: {name!r} already exists")
        q = Qos(name, **_clean(QOS_FIELDS, changes, "a QOS"))
        return self._with(qos={**self.qos, name: q})

    def modify_qos(self, name: str, changes: Mapping[str, Any]) -> AssocTree:
        q = self.qos.get(name)
        if q is None:
            raise NotFound(f"qos: no QOS named {name!r} defined at run time")
        new = dataclasses.replace(q, **_clean(QOS_FIELDS, changes, "a QOS"))
        return self._with(qos={**self.qos, name: new})

    def delete_qos(self, name: str) -> AssocTree:
        if name not in self.qos:
            raise NotFound(f"qos: no QOS named {name!r} defined at run time")
        users = [f"{a.user}/{a.account}" for a in self.assocs.values()
                 if name in a.qos or a.default_qos == name]
        users += [a.name for a in self.accounts.values()
                  if name in a.qos or a.default_qos == name]
        if users:
            raise Conflict(f"qos: {name!r} is in use by {', '.join(sorted(users)[:5])}")
        return self._with(qos={k: v for k, v in self.qos.items() if k != name})
