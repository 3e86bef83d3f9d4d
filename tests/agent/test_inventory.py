"""Inventory: affinity-aware CPUs, memory, GPUs, features and overrides."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest

from corral.agent import inventory
from corral.agent.inventory import detect, parse_features


def test_detects_this_node() -> None:
    inv = detect()
    assert inv.cpus == len(os.sched_getaffinity(0))
    assert inv.mem_mb == psutil.virtual_memory().total // (1024 * 1024)
    assert inv.gpus >= 0
    assert inv.node and "." not in inv.node
    assert inv.features == ()


def test_overrides_win() -> None:
    inv = detect("n7", cpus=3, mem_mb=1000, gpus=2, features="b, a,,b")
    assert inv.to_dict() == {"node": "n7", "cpus": 3, "mem_mb": 1000, "gpus": 2,
                             "features": ["b", "a"]}


def test_features_from_a_list() -> None:
    assert parse_features(["x", " y ", ""]) == ("x", "y")
    assert parse_features(None) == ()


def test_cpus_follow_affinity() -> None:
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert detect().cpus == 1
    finally:
        os.sched_setaffinity(0, before)


def _fake_smi(tmp_path: Path, body: str) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n{body}\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)


def test_gpus_counted_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, "echo 'GPU 0: A100 (UUID: GPU-1)'; echo 'GPU 1: A100 (UUID: GPU-2)'")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert inventory.detect_gpus() == 2


def test_no_gpus_when_nvidia_smi_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert inventory.detect_gpus() == 0
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert inventory.detect_gpus() == 0
