"""sacctmgr's and sshare's tables: field names as Slurm spells and abbreviates them,
their default widths, and the three layouts (columns, `-p`, `-P`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corral.model.units import format_duration_s

# canonical name -> default width (negative: left-aligned, as Slurm's %-N)
WIDTHS: dict[str, int] = {
    "Account": 10, "Descr": 20, "Org": 20, "Cluster": 10, "Par Name": 10, "User": 10,
    "Partition": 10, "Share": 9, "Priority": 10, "GrpJobs": 7, "GrpTRES": 13,
    "GrpSubmit": 9, "GrpWall": 11, "GrpTRESMins": 13, "MaxJobs": 7, "MaxTRES": 13,
    "MaxTRESPerNode": 14, "MaxSubmit": 9, "MaxWall": 11, "MaxTRESMins": 13, "QOS": 20,
    "Def QOS": 9, "GrpTRESRunMin": 13, "Def Acct": 10, "Admin": 9, "MaxNodes": 8,
    "MaxCPUs": 8, "MaxCPUMins": 11, "Name": 10, "GraceTime": 10, "Preempt": 10,
    "PreemptMode": 11, "Flags": 10, "UsageFactor": 11, "MaxJobsPU": 9, "MaxTRESPU": 13,
    "ControlHost": 15, "ControlPort": 12, "RPC": 5, "Type": 8, "ID": 6,
    # sshare
    "RawShares": 10, "NormShares": 11, "RawUsage": 11, "NormUsage": 11, "EffectvUsage": 13,
    "FairShare": 10,
}
SSHARE_WIDTHS = {"Account": -20}
SSHARE_ALIASES = {"fairshare": "FairShare", "normusage": "NormUsage"}
ALIASES: dict[str, str] = {
    "description": "Descr", "organization": "Org", "parentname": "Par Name",
    "parent": "Par Name", "defaultaccount": "Def Acct", "defacct": "Def Acct",
    "adminlevel": "Admin", "fairshare": "Share", "shares": "Share", "defaultqos": "Def QOS",
    "defqos": "Def QOS", "maxwalldurationperjob": "MaxWall", "maxtresperjob": "MaxTRES",
    "maxjobsperuser": "MaxJobsPU", "maxtresperuser": "MaxTRESPU", "effectvusage": "EffectvUsage",
    "effectiveusage": "EffectvUsage", "accounts": "Account", "users": "User",
}
for _n in WIDTHS:
    ALIASES.setdefault(_n.lower().replace(" ", ""), _n)

ACCOUNT = ["Account", "Descr", "Org"]
ACCOUNT_ASSOC = ["Account", "Descr", "Org", "Cluster", "Par Name", "User", "Share",
                 "Priority", "GrpJobs", "GrpTRES", "MaxJobs", "MaxTRES", "MaxWall", "QOS",
                 "Def QOS"]
USER = ["User", "Def Acct", "Admin"]
USER_ASSOC = ["User", "Def Acct", "Admin", "Cluster", "Account", "Partition", "Share",
              "Priority", "MaxJobs", "MaxNodes", "MaxCPUs", "MaxSubmit", "MaxWall",
              "MaxCPUMins", "QOS", "Def QOS"]
ASSOC = ["Cluster", "Account", "User", "Partition", "Share", "Priority", "GrpJobs",
         "GrpTRES", "GrpSubmit", "GrpWall", "GrpTRESMins", "MaxJobs", "MaxTRES",
         "MaxTRESPerNode", "MaxSubmit", "MaxWall", "MaxTRESMins", "QOS", "Def QOS",
         "GrpTRESRunMin"]
QOS = ["Name", "Priority", "GraceTime", "Preempt", "PreemptMode", "Flags", "UsageFactor",
       "MaxTRES", "MaxWall", "MaxJobsPU", "MaxTRESPU"]
CLUSTER = ["Cluster", "ControlHost", "ControlPort", "RPC", "Share", "QOS"]
TRES = ["Type", "Name", "ID"]
SSHARE = ["Account", "User", "RawShares", "NormShares", "RawUsage", "EffectvUsage",
          "FairShare"]


def column(item: str, widths: Mapping[str, int] | None = None,
           aliases: Mapping[str, str] | None = None) -> tuple[str, int]:
    """`name[%width]` -> (canonical name, width); unknown names are kept as given."""
    name, _, width = item.partition("%")
    key = name.lower().replace(" ", "")
    canon = (aliases or {}).get(key) or ALIASES.get(key, name)
    if width.lstrip("-").isdigit():
        return canon, int(width)
    return canon, (widths or {}).get(canon, WIDTHS.get(canon, 10))


def _cell(value: str, width: int) -> str:
    w = abs(width)
    if len(value) > w:
        value = value[:w - 1] + "+" if w > 1 else value[:w]
    return f"{value:<{w}}" if width < 0 else f"{value:>{w}}"


def render(fields: list[str], rows: Sequence[Mapping[str, str]], opts: Mapping[str, object],
           widths: Mapping[str, int] | None = None,
           aliases: Mapping[str, str] | None = None) -> str:
    """The table in sacctmgr's layouts (-n: no header; -P, -p: parsable)."""
    cols = [column(f, widths, aliases) for f in fields]
    lines: list[str] = []
    if "parsable2" in opts or "parsable" in opts:
        end = "" if "parsable2" in opts else "|"
        if "noheader" not in opts:
            lines.append("|".join(n for n, _ in cols) + end)
        lines += ["|".join(r.get(n, "") for n, _ in cols) + end for r in rows]
    else:
        if "noheader" not in opts:
            lines.append(" ".join(_cell(n, w) for n, w in cols))
            lines.append(" ".join("-" * abs(w) for _, w in cols))
        lines += [" ".join(_cell(r.get(n, ""), w) for n, w in cols) for r in rows]
    return "\n".join(lines)


def limit(value: object) -> str:
    return "" if value is None else str(value)


def wall(value: object) -> str:
    return "" if value is None else format_duration_s(int(str(value)))


def tres(cpus: object, gpus: object) -> str:
    parts = [f"cpu={cpus}"] if cpus is not None else []
    if gpus is not None:
        parts.append(f"gres/gpu={gpus}")
    return ",".join(parts)
