"""sacctmgr: corral's associations (docs/accounting.md) with Slurm's syntax.

    sacctmgr [-inPps] add|modify|delete|show account|user|qos …
    sacctmgr add account physics parent=root fairshare=40
    sacctmgr add user alice account=physics [defaultaccount=physics] [maxjobs=4]
    sacctmgr modify user where name=alice account=physics set maxwall=1:00:00
    sacctmgr delete user alice account=physics
    sacctmgr -nP show assoc where user=alice format=account,maxjobs

Changes are administrators' and take effect at once (corral asks no confirmation,
as with -i). Keys are Slurm's, case-insensitive: Parent, Fairshare, Description,
Organization, Account(s), DefaultAccount, MaxJobs, MaxTRES=cpu=N,gres/gpu=N, MaxCPUs,
MaxWall, QOS (=, += and -=), DefaultQOS; for a QOS Priority, MaxWall, MaxJobsPerUser,
MaxTRESPerUser=cpu=N. A limit of -1 is cleared (inherited again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from corral.client import Client
from corral.compat import frontend
from corral.compat.options import NONE, Opt, collect, parse
from corral.compat.slurm import assoc_table as t
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model.units import UNLIMITED_S, parse_duration_s

CLUSTER = "corral"
VERBS = {"add": "add", "create": "add", "modify": "modify", "update": "modify",
         "delete": "delete", "remove": "delete", "show": "show", "list": "show",
         "ls": "show"}
ENTITIES = ("account", "user", "association", "qos", "cluster", "tres")
TABLE = [
    Opt("noheader", "noheader", NONE, "n"), Opt("parsable2", "parsable2", NONE, "P"),
    Opt("parsable", "parsable", NONE, "p"), Opt("associations", "associations", NONE, "s"),
    Opt("immediate", "ignored", NONE, "i"), Opt("quiet", "quiet", NONE, "Q"),
    Opt("readonly", "readonly", NONE, "r"), Opt("verbose", "ignored", NONE, "v"),
    Opt("oneliner", "ignored", NONE, "o"), Opt("version", "version", NONE, "V"),
    Opt("help", "help", NONE, "h"), Opt("json", "json", NONE),
]
# Slurm's keys (lower case, and the prefixes it accepts) -> the field they set
KEYS: dict[str, str] = {
    "parent": "parent", "fairshare": "shares", "share": "shares", "shares": "shares",
    "description": "description", "descr": "description", "organization": "organization",
    "org": "organization", "account": "accounts", "accounts": "accounts",
    "acct": "accounts", "defaultaccount": "default_account", "defacct": "default_account",
    "maxjobs": "max_jobs", "maxcpus": "max_cpus", "maxtres": "max_tres",
    "maxtresperjob": "max_tres", "maxwall": "max_wall_s", "maxwalldurationperjob": "max_wall_s",
    "qos": "qos", "qoslevel": "qos", "defaultqos": "default_qos", "defqos": "default_qos",
    "priority": "priority", "maxjobsperuser": "max_jobs_per_user",
    "maxjobspu": "max_jobs_per_user", "maxtresperuser": "max_tres_pu",
    "maxtrespu": "max_tres_pu", "name": "names", "names": "names", "user": "users",
    "users": "users", "cluster": "cluster", "clusters": "cluster", "format": "format",
    "withassoc": "withassoc", "adminlevel": "adminlevel", "partition": "partition",
}


class Request:
    """The words after `VERB ENTITY`: names, `where` filters and `set` values."""

    def __init__(self, words: list[str]) -> None:
        self.names: list[str] = []
        self.where: dict[str, tuple[str, str]] = {}  # field -> (op, value)
        self.values: dict[str, tuple[str, str]] = {}
        self.fields: list[str] | None = None
        self.withassoc = False
        target = self.where
        for word in words:
            low = word.lower()
            if low == "where":
                target = self.where
                continue
            if low == "set":
                target = self.values
                continue
            if low == "withassoc":
                self.withassoc = True
                continue
            key, op, value = _split(word)
            if not op:
                self.names += [n for n in word.split(",") if n]
                continue
            field = KEYS.get(key.lower())
            if field is None:
                frontend.fail(f"Unknown option: {word}")
            if field == "format":
                self.fields = [f for f in value.split(",") if f]
            elif field == "names":
                self.names += [n for n in value.split(",") if n]
            elif field == "cluster":
                if any(c != CLUSTER for c in value.split(",") if c):
                    frontend.fail(f"cluster: corral is one cluster, {CLUSTER!r}; not {value!r}")
            else:
                target[field] = (op, value)

    def all_values(self) -> dict[str, tuple[str, str]]:
        """For add, where Slurm takes the values without `set`."""
        return {**self.where, **self.values}


def _split(word: str) -> tuple[str, str, str]:
    for op in ("+=", "-=", "="):
        key, sep, value = word.partition(op)
        if sep and key and "=" not in key:
            return key, op, value
    return word, "", ""


def _limit(field: str, value: str) -> int | None:
    if value.strip() == "-1":
        return None
    try:
        n = int(value)
    except ValueError:
        frontend.fail(f"{field}: {value!r} is not a whole number (-1 clears the limit)")
    if n < 0:
        frontend.fail(f"{field}: {value!r} is not a whole number (-1 clears the limit)")
    return n


def _wall(value: str) -> int | None:
    if value.strip() == "-1":
        return None
    s = parse_duration_s("MaxWall", value)
    return None if s == UNLIMITED_S else s


def _tres(field: str, value: str) -> dict[str, int | None]:
    """MaxTRES=cpu=4,gres/gpu=1 (-1 clears one)."""
    out: dict[str, int | None] = {}
    for item in (i for i in value.split(",") if i):
        name, eq, n = item.partition("=")
        key = {"cpu": "cpus", "gres/gpu": "gpus", "gpu": "gpus"}.get(name.lower())
        if key is None or not eq:
            frontend.fail(f"{field}: {item!r} is not cpu=N or gres/gpu=N (corral's TRES)")
        out[key] = _limit(f"{field} {name}", n)
    return out


def _changes(values: dict[str, tuple[str, str]], kind: str,
             current_qos: Iterable[str] = ()) -> dict[str, Any]:
    """Slurm's key=value pairs as the REST API's fields."""
    out: dict[str, Any] = {}
    for field, (op, value) in values.items():
        if op != "=" and field != "qos":
            frontend.fail(f"{field}: only QOS takes += or -=")
        if field in ("adminlevel", "partition"):
            frontend.fail(f"{field}: not supported by corral (roles come from its "
                          "configuration; associations are per account, not partition)")
        if field in ("max_jobs", "max_cpus", "max_jobs_per_user"):
            out[field] = _limit(field, value)
        elif field == "shares":
            if value.lower() == "parent":
                frontend.fail("fairshare: 'parent' is not supported; give a number")
            n = _limit("fairshare", value)
            out["shares"] = 1 if n is None else n
        elif field == "priority":
            n = _limit("priority", value)
            out["priority"] = 0 if n is None else n
        elif field == "max_wall_s":
            out["max_wall_s"] = _wall(value)
        elif field == "max_tres":
            out.update({f"max_{k}": v for k, v in _tres("MaxTRES", value).items()})
        elif field == "max_tres_pu":
            got = _tres("MaxTRESPerUser", value)
            if "gpus" in got:
                frontend.fail("MaxTRESPerUser: corral limits QOS by cpu only")
            out["max_cpus_per_user"] = got.get("cpus")
        elif field == "qos":
            names = [q for q in value.split(",") if q]
            have = list(current_qos)
            if op == "+=":
                names = have + [q for q in names if q not in have]
            elif op == "-=":
                names = [q for q in have if q not in names]
            out["qos"] = names
        elif field == "default_qos":
            out["default_qos"] = value or None
        elif field in ("parent", "description", "organization", "default_account"):
            out[field] = value
        elif field == "accounts":
            out["accounts"] = [a for a in value.split(",") if a]
        elif field == "users":
            out["users"] = [u for u in value.split(",") if u]
    if kind == "qos":
        bad = set(out) - {"description", "priority", "max_wall_s", "max_jobs_per_user",
                          "max_cpus_per_user"}
        if bad:
            frontend.fail(f"qos: {sorted(bad)[0]} is not a QOS setting")
        if "max_cpus" in out:
            frontend.fail("qos: MaxTRES per job is not a corral QOS setting")
    return out


# ---- show -----------------------------------------------------------------------------
def _account_rows(data: dict[str, Any], req: Request, with_assoc: bool) -> list[dict[str, str]]:
    names = set(req.names)
    rows = []
    users_of: dict[str, list[dict[str, Any]]] = {}
    for a in data["associations"]:
        users_of.setdefault(a["account"], []).append(a)
    for acc in data["accounts"]:
        if names and acc["name"] not in names:
            continue
        base = {"Account": acc["name"], "Descr": acc["description"],
                "Org": acc["organization"]}
        if not with_assoc:
            rows.append({**base, "Par Name": acc["parent"] or "", "Share": str(acc["shares"])})
            continue
        rows.append({**base, **_assoc_cells(acc, data["cluster"]),
                     "Par Name": acc["parent"] or ""})
        rows += [{**base, **_assoc_cells(u, data["cluster"]), "User": u["user"]}
                 for u in users_of.get(acc["name"], [])]
    return rows


def _assoc_cells(a: dict[str, Any], cluster: str) -> dict[str, str]:
    return {"Cluster": cluster, "Account": a.get("account") or a.get("name", ""),
            "User": a.get("user", ""), "Partition": "", "Share": str(a["shares"]),
            "Priority": "", "MaxJobs": t.limit(a["max_jobs"]),
            "MaxTRES": t.tres(a["max_cpus"], a["max_gpus"]),
            "MaxCPUs": t.limit(a["max_cpus"]), "MaxWall": t.wall(a["max_wall_s"]),
            "QOS": ",".join(a["qos"]), "Def QOS": a["default_qos"] or ""}


def _user_rows(data: dict[str, Any], req: Request, with_assoc: bool) -> list[dict[str, str]]:
    names = set(req.names) | set(_list(req.where.get("users")))
    accounts = set(_list(req.where.get("accounts")))
    default = {u["name"]: u["default_account"] for u in data["users"]}
    rows = []
    for name in sorted(default):
        if names and name not in names:
            continue
        base = {"User": name, "Def Acct": default[name], "Admin": "None"}
        if not with_assoc:
            rows.append(base)
            continue
        rows += [{**_assoc_cells(a, data["cluster"]), **base}
                 for a in data["associations"]
                 if a["user"] == name and (not accounts or a["account"] in accounts)]
    return rows


def _list(where: tuple[str, str] | None) -> list[str]:
    return [v for v in where[1].split(",") if v] if where else []


def _assoc_rows(data: dict[str, Any], req: Request) -> list[dict[str, str]]:
    users = set(_list(req.where.get("users"))) | set(req.names)
    accounts = set(_list(req.where.get("accounts")))
    rows = []
    by_account: dict[str, list[dict[str, Any]]] = {}
    for a in data["associations"]:
        by_account.setdefault(a["account"], []).append(a)
    for acc in data["accounts"]:
        if accounts and acc["name"] not in accounts:
            continue
        if not users:
            rows.append(_assoc_cells(acc, data["cluster"]))
        rows += [_assoc_cells(u, data["cluster"]) for u in by_account.get(acc["name"], [])
                 if not users or u["user"] in users]
    return rows


def _qos_rows(data: dict[str, Any], req: Request) -> list[dict[str, str]]:
    names = set(req.names)
    return [{"Name": q["name"], "Priority": str(q["priority"]), "GraceTime": "00:00:00",
             "PreemptMode": "cluster", "UsageFactor": "1.000000",
             "MaxWall": t.wall(q["max_wall_s"]), "MaxJobsPU": t.limit(q["max_jobs_per_user"]),
             "MaxTRESPU": t.tres(q["max_cpus_per_user"], None), "Descr": q["description"]}
            for q in data["qos"] if not names or q["name"] in names]


def show(entity: str, req: Request, o: dict[str, Any]) -> None:
    with_assoc = "associations" in o or req.withassoc
    if entity in ("cluster", "tres"):
        data: dict[str, Any] = {}
    else:
        with frontend.client() as c:
            data = c.associations()
    if entity == "account":
        fields, rows = (t.ACCOUNT_ASSOC if with_assoc else t.ACCOUNT), \
            _account_rows(data, req, with_assoc)
    elif entity == "user":
        fields, rows = (t.USER_ASSOC if with_assoc else t.USER), \
            _user_rows(data, req, with_assoc)
    elif entity == "association":
        fields, rows = t.ASSOC, _assoc_rows(data, req)
    elif entity == "qos":
        fields, rows = t.QOS, _qos_rows(data, req)
    elif entity == "cluster":
        fields, rows = t.CLUSTER, [{"Cluster": CLUSTER, "Share": "1", "QOS": "normal"}]
    else:
        fields, rows = t.TRES, [{"Type": "cpu", "ID": "1"}, {"Type": "mem", "ID": "2"},
                                {"Type": "node", "ID": "4"},
                                {"Type": "gres", "Name": "gpu", "ID": "1001"}]
    if "json" in o:
        key = {"qos": "qos", "tres": "TRES"}.get(entity, f"{entity}s")
        print(json.dumps({key: rows}))
        return
    text = t.render(req.fields or fields, rows, o)
    if text:
        print(text)


# ---- changes --------------------------------------------------------------------------
def _say(o: dict[str, Any], *lines: str) -> None:
    if "quiet" not in o:
        print("\n".join(lines))


def add(entity: str, req: Request, o: dict[str, Any], c: Client) -> None:
    values = _changes(req.all_values(), entity)
    if not req.names:
        frontend.fail(f"add {entity}: a name is needed (sacctmgr add {entity} NAME …)")
    if entity == "account":
        if "accounts" in values or "users" in values or "default_account" in values:
            frontend.fail("add account: account=, user= and defaultaccount= are for users")
        for name in req.names:
            c.change_association("POST", "accounts", body={"name": name, **values})
        _say(o, " Adding Account(s)", *(f"  {n}" for n in req.names), " Settings",
             f"  Parent        = {values.get('parent', 'root')}")
    elif entity == "user":
        accounts = values.pop("accounts", None)
        default = values.pop("default_account", None)
        if not accounts:
            accounts = [default] if default else None
        if not accounts:
            frontend.fail("add user: an account is needed (account=NAME)")
        for name in req.names:
            c.change_association("POST", "users", body={
                "name": name, "accounts": accounts, "default_account": default, **values})
        _say(o, " Adding User(s)", *(f"  {n}" for n in req.names), " Associations =",
             *(f"  U = {n:<9} A = {a:<10} C = {CLUSTER:<10}" for n in req.names
               for a in accounts))
    elif entity == "qos":
        for name in req.names:
            c.change_association("POST", "qos", body={"name": name, **values})
        _say(o, " Adding QOS(s)", *(f"  {n}" for n in req.names))
    else:
        frontend.fail(f"add: {entity} cannot be added (account, user or qos)")


def modify(entity: str, req: Request, o: dict[str, Any], c: Client) -> None:
    names = req.names or ([] if entity != "user" else _list(req.where.get("users")))
    if not names:
        frontend.fail(f"modify {entity}: which? (… where name=NAME set …)")
    if not req.values:
        frontend.fail(f"modify {entity}: nothing to set (… set KEY=VALUE)")
    data: dict[str, Any] = (c.associations() if "qos" in req.values
                            else {"accounts": [], "associations": []})
    for name in names:
        have: list[str]
        if entity == "account":
            have = next((a["qos"] for a in data["accounts"] if a["name"] == name), [])
            c.change_association("PATCH", "accounts", name,
                                 body=_changes(req.values, entity, have))
        elif entity == "user":
            accounts: list[str | None] = [*_list(req.where.get("accounts"))] or [None]
            for acc in accounts:
                have = next((a["qos"] for a in data["associations"]
                             if a["user"] == name and a["account"] == acc), [])
                body = _changes(req.values, entity, have)
                if acc is not None:
                    body["account"] = acc
                c.change_association("PATCH", "users", name, body=body)
        elif entity == "qos":
            c.change_association("PATCH", "qos", name, body=_changes(req.values, "qos"))
        else:
            frontend.fail(f"modify: {entity} cannot be modified (account, user or qos)")
    what = {"account": "account associations", "user": "user associations",
            "qos": "qos"}[entity]
    _say(o, f" Modified {what}...", *(f"  {n}" for n in names))


def delete(entity: str, req: Request, o: dict[str, Any], c: Client) -> None:
    names = req.names or (_list(req.where.get("users")) if entity == "user" else [])
    if not names:
        frontend.fail(f"delete {entity}: which? (sacctmgr delete {entity} NAME)")
    if entity == "user":
        accounts: list[str | None] = [*_list(req.where.get("accounts"))] or [None]
        for name in names:
            for acc in accounts:
                c.change_association("DELETE", "users", name,
                                     query={"account": acc} if acc else None)
    elif entity in ("account", "qos"):
        for name in names:
            c.change_association("DELETE", "accounts" if entity == "account" else "qos", name)
    else:
        frontend.fail(f"delete: {entity} cannot be deleted (account, user or qos)")
    label = {"account": "accounts", "user": "users", "qos": "QOS(s)"}[entity]
    _say(o, f" Deleting {label}...", *(f"  {n}" for n in names))


def _entity(word: str) -> str | None:
    low = word.lower()
    if low in ("assoc", "associations"):
        return "association"
    low = low.rstrip("s") if low not in ("qos", "tres") else low
    hits = [e for e in ENTITIES if e.startswith(low)]
    return hits[0] if len(hits) == 1 or low in ENTITIES else None


def sacctmgr(argv: list[str]) -> int:
    found, words = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o or not words:
        print(__doc__.strip().split("\n\n")[1])
        return 0
    verb = VERBS.get(words[0].lower())
    if verb is None:
        frontend.fail(f"Invalid command entered: {words[0]}")
    if len(words) < 2:
        frontend.fail(f"{words[0]}: an entity is needed (account, user, qos, association)")
    entity = _entity(words[1])
    if entity is None:
        frontend.fail(f"Unknown entity: {words[1]}")
    req = Request(words[2:])
    if verb == "show":
        show(entity, req, o)
        return 0
    if "readonly" in o:
        frontend.fail(f"{verb}: sacctmgr is read-only (-r)")
    with frontend.client() as c:
        {"add": add, "modify": modify, "delete": delete}[verb](entity, req, o, c)
    return 0


def main() -> None:
    frontend.run("sacctmgr", sacctmgr, error_prefix="sacctmgr: error: ")


if __name__ == "__main__":
    main()
