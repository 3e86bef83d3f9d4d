"""The energy reader (agent/energy.py) on recorded powercap trees."""

from __future__ import annotations

from pathlib import Path

from corral.agent.energy import joules_between, read_counters

WRAP = 262_143_328_850  # a package's max_energy_range_uj on a real machine


def tree(root: Path, counters: dict[str, int]) -> Path:
    for name, value in counters.items():
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "energy_uj").write_text(f"{value}\n")
        (d / "max_energy_range_uj").write_text(f"{WRAP}\n")
        (d / "name").write_text("package-0\n" if name.count(":") == 1 else "core\n")
    return root


def test_packages_are_summed_and_their_parts_are_not(tmp_path: Path) -> None:
    root = tree(tmp_path, {"intel-rapl:0": 1_000_000, "intel-rapl:1": 5_000_000,
                           "intel-rapl:0:0": 900_000})
    start = read_counters(root)
    assert start == {"intel-rapl:0": (1_000_000, WRAP), "intel-rapl:1": (5_000_000, WRAP)}
    tree(root, {"intel-rapl:0": 3_500_000, "intel-rapl:1": 6_000_000,
                "intel-rapl:0:0": 3_000_000})
    assert joules_between(start, read_counters(root)) == 3.5


def test_a_counter_that_wrapped(tmp_path: Path) -> None:
    root = tree(tmp_path, {"intel-rapl:0": WRAP - 328_850})
    start = read_counters(root)
    tree(root, {"intel-rapl:0": 1_000_000})
    assert joules_between(start, read_counters(root)) == 1.32885


def test_no_counter_is_unknown_not_zero(tmp_path: Path) -> None:
    assert read_counters(tmp_path / "absent") is None
    assert read_counters(tmp_path) is None  # a tree without a package domain
    assert joules_between(None, {"intel-rapl:0": (1, WRAP)}) is None
    root = tree(tmp_path / "t", {"intel-rapl:0": 10})
    start = read_counters(root)
    (root / "intel-rapl:0" / "energy_uj").unlink()  # gone by the end
    assert joules_between(start, read_counters(root)) is None
