"""sshare: the account tree with shares, decayed usage and fair-share factors
(docs/accounting.md). Accounts, then each account's users, depth first; without
-a (or -u) only the caller's own user rows. Usage is in decayed CPU-seconds."""

from __future__ import annotations

import json
from typing import Any

from corral.compat import frontend
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm import assoc_table as t
from corral.compat.slurm.sbatch import SLURM_VERSION

TABLE = [
    Opt("noheader", "noheader", NONE, "n"), Opt("parsable2", "parsable2", NONE, "P"),
    Opt("parsable", "parsable", NONE, "p"), Opt("format", "format", REQUIRED, "o"),
    Opt("accounts", "accounts", REQUIRED, "A"), Opt("users", "users", REQUIRED, "u"),
    Opt("all", "all", NONE, "a"), Opt("long", "long", NONE, "l"),
    Opt("Users", "users_only", NONE, "U"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("partition", "ignored", NONE, "m"), Opt("verbose", "ignored", NONE, "v"),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE, "h"),
    Opt("json", "json", NONE),
]
LONG = [*t.SSHARE[:5], "NormUsage", "EffectvUsage", "FairShare"]


def _cells(r: dict[str, Any]) -> dict[str, str]:
    root = r["depth"] == 0
    return {"Account": " " * r["depth"] + r["account"], "User": r["user"],
            "RawShares": "" if root else str(int(r["raw_shares"])),
            "NormShares": f"{r['norm_shares']:.6f}", "RawUsage": str(round(r["raw_usage"])),
            "NormUsage": f"{r['effective_usage']:.6f}",
            "EffectvUsage": f"{r['effective_usage']:.6f}",
            "FairShare": "" if root else f"{r['fairshare']:.6f}"}


def sshare(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o:
        print("Usage: sshare [-alnPpU] [-A ACCOUNTS] [-u USERS] [-o FIELDS]")
        return 0
    if operands:
        frontend.fail(f"Unrecognized option: {operands[0]}")
    with frontend.client() as c:
        rows = c.shares()
    accounts = {a for a in str(o.get("accounts") or "").split(",") if a}
    users = {u for u in str(o.get("users") or "").split(",") if u}
    if "all" not in o and not users:
        users = {frontend.me()}
    if "all" in o and users == {"all"}:
        users = set()
    picked = [r for r in rows
              if (not accounts or r["account"] in accounts)
              and ((r["user"] == "" and "users_only" not in o)
                   or (r["user"] != "" and (not users or r["user"] in users)))]
    if "json" in o:
        print(json.dumps({"shares": {"shares": picked}}))
        return 0
    default = LONG if "long" in o else t.SSHARE
    fields = [f for f in str(o.get("format") or "").split(",") if f] or default
    text = t.render(fields, [_cells(r) for r in picked], o, widths=t.SSHARE_WIDTHS,
                    aliases=t.SSHARE_ALIASES)
    if text:
        print(text)
    return 0


def main() -> None:
    frontend.run("sshare", sshare, error_prefix="sshare: error: ")


if __name__ == "__main__":
    main()
