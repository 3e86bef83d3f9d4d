"""corral.store.sandboxes: files kept once by content, limits per file and per job,
refusals naming the file, its size and the limit."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from corral.model.errors import InvalidRequest
from corral.model.sandbox import Entry, SandboxTooLarge, check_lists
from corral.store.sandboxes import SandboxStore


def _store(tmp_path: Path) -> SandboxStore:
    return SandboxStore(tmp_path / "sbx", max_file_bytes=1000, max_job_bytes=1500)


def _files(store: SandboxStore) -> list[Path]:
    return [p for p in (store.root / "sha256").rglob("*") if p.is_file()]


def test_content_addressed_and_stored_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = b"hello sandbox\n"
    want = hashlib.sha256(data).hexdigest()
    assert store.put([data[:5], data[5:]], name="a") == (want, len(data))
    assert store.put([data], name="b", digest=want) == (want, len(data))
    assert _files(store) == [store.root / "sha256" / want[:2] / want]
    assert b"".join(store.read(want)) == data
    assert store.size(want) == len(data)
    assert list((store.root / "tmp").iterdir()) == []


def test_a_wrong_digest_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(InvalidRequest, match="'x': its content's sha256 is"):
        store.put([b"abc"], name="x", digest="0" * 64)
    assert _files(store) == [] and list((store.root / "tmp").iterdir()) == []


def test_over_the_file_limit_names_file_and_limit(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(SandboxTooLarge, match=r"'big.bin': over 1000 bytes .*max_file_bytes"):
        store.put([b"x" * 600, b"x" * 600], name="big.bin")
    assert _files(store) == [] and list((store.root / "tmp").iterdir()) == []


def test_a_job_over_its_limit_or_naming_a_missing_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    d1, _ = store.put([b"1" * 900], name="one")
    d2, _ = store.put([b"2" * 900], name="two")
    assert store.check_job([Entry(d1, False, "one")]) == 900
    with pytest.raises(SandboxTooLarge, match=r"'two' brings the job's files to 1800 bytes, "
                                              r"over the limit of 1500"):
        store.check_job([Entry(d1, False, "one"), Entry(d2, False, "two")])
    with pytest.raises(InvalidRequest, match=r"'gone' .* was not uploaded"):
        store.check_job([Entry("a" * 64, False, "gone")])


def test_entries_and_lists_are_checked() -> None:
    e = Entry("b" * 64, True, "run.sh")
    assert Entry.parse(e.text()) == e
    for bad in ("xyz:644:a", "b" * 64 + ":600:a", "b" * 64 + ":644:../a", "b" * 64 + ":644:d/a"):
        with pytest.raises(InvalidRequest, match=r"sha256|input_sandbox"):
            Entry.parse(bad)
    with pytest.raises(InvalidRequest, match=r"'a' is named twice"):
        check_lists((f"{'c' * 64}:644:a", f"{'d' * 64}:644:a"), ())
    with pytest.raises(InvalidRequest, match=r"output_sandbox: '\.\./x'"):
        check_lists((), ("../x",))


def test_outputs_per_job(tmp_path: Path) -> None:
    store = _store(tmp_path)
    d, n = store.put([b"out"], name="r.txt")
    store.add_output(7, "r.txt", d, n)
    assert store.outputs(7) == {"r.txt": (d, 3)} and store.outputs(8) == {}


def test_the_sweep_removes_what_was_not_used_for_the_retention_time(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old, _ = store.put([b"old"], name="old")
    kept, _ = store.put([b"kept"], name="kept")
    store.add_output(1, "r", old, 3)
    long_ago = time.time() - 10_000
    for p in (store.path(old), store.path(kept), store.root / "jobs" / "1.json"):
        os.utime(p, (long_ago, long_ago))
    assert store.size(kept) == 4  # asked for (a submit naming it): used again
    assert store.sweep(retention_s=5_000) == 2
    assert store.size(old) is None and store.outputs(1) == {}
    assert store.size(kept) == 4
