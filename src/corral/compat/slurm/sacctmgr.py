"""sacctmgr and sshare, read-only: corral keeps no accounting associations.

Any account name is accepted at submit (accounts only weigh in fair-share, from
corral's configuration), so there is nothing to list: `sacctmgr list user|account|
association|qos|cluster …` and `sshare` print their header (none with `-n`/
`--noheader`) and no rows, and exit 0. Tools that validate an account this way
(snakemake's Slurm plugin) then proceed without validation, which is right on corral.
Changing verbs (add, modify, delete, …) are refused.
"""

from __future__ import annotations

import json

from corral.compat import frontend
from corral.compat.options import NONE, Opt, collect, parse
from corral.compat.slurm.sbatch import SLURM_VERSION

ENTITIES: dict[str, list[str]] = {
    "user": ["User", "Def Acct", "Admin"],
    "account": ["Account", "Descr", "Org"],
    "association": ["Cluster", "Account", "User", "Partition", "Share", "Priority",
                    "GrpJobs", "GrpTRES", "MaxJobs", "MaxTRES", "QOS", "Def QOS"],
    "qos": ["Name", "Priority", "GraceTime", "Preempt", "PreemptMode", "Flags",
            "UsageFactor", "MaxTRES", "MaxWall", "MaxJobsPU"],
    "cluster": ["Cluster", "ControlHost", "ControlPort", "RPC", "Share", "QOS"],
    "tres": ["Type", "Name", "ID"],
}
ASSOC_WITH_USER = ["User", "Def Acct", "Admin", "Cluster", "Account", "Partition", "Share",
                   "Priority", "MaxJobs", "MaxNodes", "MaxCPUs", "MaxSubmit", "MaxWall",
                   "MaxCPUMins", "QOS", "Def QOS"]
SSHARE = ["Account", "User", "RawShares", "NormShares", "RawUsage", "EffectvUsage",
          "FairShare"]
_NAMES = {n.lower().replace(" ", ""): n.replace(" ", "") if n == "Def Acct" else n
          for names in (*ENTITIES.values(), ASSOC_WITH_USER) for n in names}
_NAMES["defaultaccount"] = "Def Acct"
CHANGES = ("add", "create", "modify", "update", "delete", "remove", "archive", "load",
           "reconfigure", "shutdown")

TABLE = [
    Opt("noheader", "noheader", NONE, "n"), Opt("parsable2", "parsable2", NONE, "P"),
    Opt("parsable", "parsable", NONE, "p"), Opt("associations", "associations", NONE, "s"),
    Opt("immediate", "ignored", NONE, "i"), Opt("quiet", "ignored", NONE, "Q"),
    Opt("readonly", "ignored", NONE, "r"), Opt("verbose", "ignored", NONE, "v"),
    Opt("oneliner", "ignored", NONE, "o"), Opt("version", "version", NONE, "V"),
    Opt("help", "help", NONE, "h"), Opt("json", "json", NONE),
]


def _field(item: str) -> tuple[str, int]:
    name, _, width = item.partition("%")
    name = _NAMES.get(name.lower().replace(" ", ""), name)
    return name, abs(int(width)) if width.lstrip("-").isdigit() else 10


def header(fields: list[str], o: dict[str, object]) -> str | None:
    """The header line in sacctmgr/sshare's layouts (None with -n/--noheader)."""
    if "noheader" in o:
        return None
    cols = [_field(f) for f in fields]
    if "parsable2" in o:
        return "|".join(n for n, _ in cols)
    if "parsable" in o:
        return "".join(f"{n}|" for n, _ in cols)
    line = " ".join(f"{n[:w]:>{w}}" for n, w in cols)
    return f"{line}\n" + " ".join("-" * w for _, w in cols)


def _word(text: str, choices: list[str] | tuple[str, ...]) -> str | None:
    low = text.lower().rstrip("s") if text.lower() not in ("qos", "tres") else text.lower()
    hits = [c for c in choices if c.startswith(low)]
    return hits[0] if len(hits) == 1 or low in choices else None


def sacctmgr(argv: list[str]) -> int:
    found, words = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o or not words:
        print("Usage: sacctmgr [-nPps] list|show user|account|association|qos|cluster "
              "[format=F1,F2…]\ncorral keeps no accounting associations: the lists are "
              "empty and any account name is accepted.")
        return 0
    verb = words[0].lower()
    if verb in CHANGES:
        frontend.fail(f"{verb}: corral keeps no accounting associations (any account "
                      "name is accepted; fair-share shares come from corral's config)")
    if verb not in ("list", "show", "ls"):
        frontend.fail(f"Invalid command entered: {words[0]}")
    if len(words) < 2:
        frontend.fail("list: an entity is needed (user, account, association, qos, …)")
    entity = _word(words[1], list(ENTITIES))
    if entity is None:
        frontend.fail(f"Unknown entity: {words[1]}")
    fields = ASSOC_WITH_USER if entity == "user" and "associations" in o \
        else ENTITIES[entity]
    for word in words[2:]:
        key, eq, value = word.partition("=")
        if eq and key.lower() in ("format", "forma", "form"):
            fields = [f for f in value.split(",") if f]
    if "json" in o:
        key = {"qos": "qos", "tres": "TRES"}.get(entity, f"{entity}s")
        print(json.dumps({key: []}))
        return 0
    text = header(fields, o)
    if text is not None:
        print(text)
    return 0


def main() -> None:
    frontend.run("sacctmgr", sacctmgr, error_prefix="sacctmgr: error: ")


if __name__ == "__main__":
    main()
