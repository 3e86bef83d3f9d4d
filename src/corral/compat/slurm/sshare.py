"""sshare: corral keeps no accounting associations, so the table has no rows
(see corral.compat.slurm.sacctmgr); `corral` shows fair-share priorities itself."""

from __future__ import annotations

from corral.compat import frontend
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm.sacctmgr import SSHARE, header
from corral.compat.slurm.sbatch import SLURM_VERSION

TABLE = [
    Opt("noheader", "noheader", NONE, "n"), Opt("parsable2", "parsable2", NONE, "P"),
    Opt("parsable", "parsable", NONE, "p"), Opt("format", "format", REQUIRED, "o"),
    Opt("accounts", "ignored", REQUIRED, "A"), Opt("users", "ignored", REQUIRED, "u"),
    Opt("all", "ignored", NONE, "a"), Opt("long", "ignored", NONE, "l"),
    Opt("Users", "ignored", NONE, "U"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("partition", "ignored", NONE, "m"), Opt("verbose", "ignored", NONE, "v"),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE, "h"),
    Opt("json", "json", NONE),
]


def sshare(argv: list[str]) -> int:
    found, _ = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o:
        print("Usage: sshare [-nPp] [-o FIELDS]\ncorral keeps no accounting "
              "associations: the table is empty.")
        return 0
    if "json" in o:
        print('{"shares": {"shares": []}}')
        return 0
    fields = [f for f in (o.get("format") or "").split(",") if f] or SSHARE
    text = header(fields, o)
    if text is not None:
        print(text)
    return 0


def main() -> None:
    frontend.run("sshare", sshare, error_prefix="sshare: error: ")


if __name__ == "__main__":
    main()
