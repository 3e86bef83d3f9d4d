"""Sealing at rest (services/sealing.py): the stored value is not the secret, opens
only with the same key and the same context, and each sealing differs."""

from __future__ import annotations

import pytest

from corral.config import Config
from corral.services.sealing import NoKey, Sealer, SealError

SECRET = b"k" * 32
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln-refresh-token-value"


def test_a_sealed_token_is_not_the_token_and_opens_back() -> None:
    s = Sealer(SECRET)
    blob = s.seal(TOKEN, "refresh iss alice")
    assert TOKEN not in blob and "alice" not in blob and blob.startswith("v1.")
    assert s.open(blob, "refresh iss alice") == TOKEN
    assert s.seal(TOKEN, "refresh iss alice") != blob  # a new nonce each time


def test_another_key_context_or_a_damaged_value_does_not_open() -> None:
    blob = Sealer(SECRET).seal(TOKEN, "refresh iss alice")
    with pytest.raises(SealError):
        Sealer(b"x" * 32).open(blob, "refresh iss alice")
    with pytest.raises(SealError):  # copied to bob's row
        Sealer(SECRET).open(blob, "refresh iss bob")
    with pytest.raises(SealError):
        Sealer(SECRET).open(blob[:-4] + "AAAA", "refresh iss alice")
    with pytest.raises(SealError):
        Sealer(SECRET).open("v0." + blob[3:], "refresh iss alice")


def test_the_key_comes_from_the_key_file_or_the_cluster_key(tmp_path: object) -> None:
    from pathlib import Path
    root = Path(str(tmp_path))
    key_file = root / "credentials.key"
    key_file.write_bytes(b"f" * 32 + b"\n")
    by_file = Sealer.from_config(Config(state_dir=str(root), credentials={
        "key_file": str(key_file)}, controller={"cluster_key": "c" * 32}))
    assert Sealer(b"f" * 32).open(by_file.seal("t", "c"), "c") == "t"
    by_cluster = Sealer.from_config(Config(state_dir=str(root),
                                           controller={"cluster_key": "c" * 32}))
    assert Sealer(b"c" * 32).open(by_cluster.seal("t", "c"), "c") == "t"
    with pytest.raises(NoKey, match=r"credentials\.key_file or controller\.cluster_key"):
        Sealer.from_config(Config(state_dir=str(root)))
    with pytest.raises(NoKey, match="at least 16 bytes"):
        Sealer(b"short")
