"""qhost: the execution hosts as Grid Engine lists them."""

from __future__ import annotations

from typing import Any

from corral.compat import frontend

PROG = "qhost"
HEADER = ("HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE"
          "  SWAPTO  SWAPUS")


def _mem(mb: float) -> str:
    return f"{mb / 1024:.1f}G" if mb >= 1024 else f"{mb:.1f}M"


def _wanted(argv: list[str]) -> set[str] | None:
    """-F [name,...]: the host consumables to list under each host (empty set: all);
    None without -F."""
    if "-F" not in argv:
        return None
    i = argv.index("-F")
    follow = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else ""
    return {x for x in follow.split(",") if x}


def _consumables(n: dict[str, Any], wanted: set[str]) -> list[str]:
    """`hc:NAME=FREE` lines, as Grid Engine shows a host's consumable resources."""
    free = {k: v - (n.get("gres_used") or {}).get(k, 0) for k, v in (n.get("gres") or {}).items()}
    if n["gpus"]:
        free["gpu"] = n["gpus"] - n["gpus_used"]
    return [f"   hc:{k}={v:.6f}" for k, v in sorted(free.items()) if not wanted or k in wanted]


def qhost(argv: list[str]) -> int:
    wanted = _wanted(argv)
    with frontend.client() as c:
        nodes = c.nodes()
    print(HEADER)
    print("-" * (len(HEADER) + 2))
    print(f"{'global':<23} {'-':<11} {'-':>5} {'-':>4} {'-':>4} {'-':>4} {'-':>5} "
          f"{'-':>7} {'-':>7} {'-':>7} {'-':>7}")
    for n in nodes:
        load = "-" if n["state"] == "DOWN" else f"{n['cpus_used'] / max(1, n['cpus']):.2f}"
        print(f"{n['name'][:23]:<23} {'lx-amd64':<11} {n['cpus']:>5} {1:>4} {n['cpus']:>4} "
              f"{n['cpus']:>4} {load:>5} {_mem(n['mem_mb']):>7} {_mem(n['mem_mb_used']):>7} "
              f"{'0.0':>7} {'0.0':>7}")
        for text in _consumables(n, wanted) if wanted is not None else []:
            print(text)
    return 0


def main() -> None:
    frontend.run(PROG, qhost, error_prefix="")


if __name__ == "__main__":
    main()
