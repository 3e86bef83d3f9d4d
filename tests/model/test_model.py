"""The vocabulary: the state table, units, arrays, dependencies, signals, config."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.config import load_config
from corral.model.arrays import parse_array
from corral.model.deps import DepKind, DepStatus, Target, evaluate_one, parse_dependency
from corral.model.errors import IllegalTransition, InvalidRequest
from corral.model.signals import parse_signal_spec
from corral.model.states import (
    FINAL_JOB_STATES,
    JOB_TRANSITIONS,
    JobState,
    NodeState,
    check_job_transition,
    derive_node_state,
)
from corral.model.units import format_duration_s, parse_duration_s, parse_mem_mb


def test_every_state_has_a_row_and_final_states_only_requeue() -> None:
    assert set(JOB_TRANSITIONS) == set(JobState)
    for s in FINAL_JOB_STATES:
        assert JOB_TRANSITIONS[s] == {JobState.PENDING, JobState.HELD}
    for old, new in itertools.product(JobState, JobState):
        if new in JOB_TRANSITIONS[old]:
            check_job_transition("1", old, new)
        else:
            with pytest.raises(IllegalTransition, match=f"from {old} to {new}"):
                check_job_transition("1", old, new)


def test_node_state_follows_from_facts() -> None:
    assert derive_node_state(reachable=False, drain=False, cpus_used=0, cpus_total=2) \
        == NodeState.DOWN
    assert derive_node_state(reachable=True, drain=True, cpus_used=1, cpus_total=2) \
        == NodeState.DRAINING
    assert derive_node_state(reachable=True, drain=True, cpus_used=0, cpus_total=2) \
        == NodeState.DRAINED
    assert derive_node_state(reachable=True, drain=False, cpus_used=1, cpus_total=2) \
        == NodeState.MIXED
    assert derive_node_state(reachable=True, drain=False, cpus_used=2, cpus_total=2) \
        == NodeState.ALLOCATED


@pytest.mark.parametrize(("text", "seconds"), [
    ("5", 300), ("5:30", 330), ("1:02:03", 3723), ("2-0", 172800), ("1-02:03", 93780),
    ("1-02:03:04", 93784), ("UNLIMITED", 0),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_s("time", text) == seconds


def test_bad_values_name_field_and_value() -> None:
    with pytest.raises(InvalidRequest, match=r"time: 'abc' is not a duration"):
        parse_duration_s("time", "abc")
    with pytest.raises(InvalidRequest, match=r"mem: '4X' is not a memory size"):
        parse_mem_mb("mem", "4X")
    assert parse_mem_mb("mem", "4G") == 4096 and parse_mem_mb("mem", "512") == 512


@given(st.integers(min_value=1, max_value=10**7))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration_s("t", format_duration_s(seconds)) == seconds


def test_arrays() -> None:
    a = parse_array("1,3,5-9:2%2")
    assert a.task_ids == (1, 3, 5, 7, 9) and a.throttle == 2 and a.step == 2
    assert parse_array("0-99").task_ids == tuple(range(100))
    for bad in ("", "5-1", "a-b", "1,,2", "0-9%0", "0-9999999"):
        with pytest.raises(InvalidRequest, match="array"):
            parse_array(bad)


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=30))
def test_array_of_a_list_is_that_set(ids: list[int]) -> None:
    assert parse_array(",".join(map(str, ids))).task_ids == tuple(sorted(set(ids)))


def test_dependencies() -> None:
    deps = parse_dependency("afterok:12:13_2,singleton")
    assert deps[0].kind == DepKind.AFTEROK
    assert deps[0].targets == (Target(12), Target(13, 2))
    assert deps[1].kind == DepKind.SINGLETON
    with pytest.raises(InvalidRequest, match="'afterx'"):
        parse_dependency("afterx:1")
    with pytest.raises(InvalidRequest, match="needs job ids"):
        parse_dependency("afterok")
    assert evaluate_one(DepKind.AFTEROK, ("FAILED", True)) == DepStatus.NEVER
    assert evaluate_one(DepKind.AFTERNOTOK, ("FAILED", True)) == DepStatus.SATISFIED
    assert evaluate_one(DepKind.AFTER, ("RUNNING", True)) == DepStatus.SATISFIED
    assert evaluate_one(DepKind.AFTERANY, ("RUNNING", True)) == DepStatus.WAITING


def test_signal_specs() -> None:
    s = parse_signal_spec("B:USR1@90")
    assert (s.signum, s.before_s, s.main_only) == (10, 90, True)
    assert parse_signal_spec("TERM").before_s == 60
    with pytest.raises(InvalidRequest, match="not a signal name"):
        parse_signal_spec("NOPE@5")


def test_config_unknown_keys_are_errors_that_name_the_key(tmp_path, monkeypatch) -> None:
    (tmp_path / "corral.toml").write_text('[controller]\nsokcet = "/x"\n')
    with pytest.raises(InvalidRequest, match=r"unknown key 'controller\.sokcet'"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[[partitions]]\nname = "a"\nmax_time_s = "x"\n')
    with pytest.raises(InvalidRequest, match="max_time_s"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[scheduler]\npolicy = "fcfs"\n')
    monkeypatch.setenv("CORRAL_SCHEDULER_POLICY", "conservative")
    monkeypatch.setenv("CORRAL_LISTEN", "127.0.0.1:9999")
    cfg = load_config(str(tmp_path))
    assert cfg.scheduler.policy == "conservative"
    assert cfg.controller.listen == "127.0.0.1:9999"
    assert cfg.database_url == f"sqlite:///{tmp_path}/corral.db"


def test_config_site_limits_and_their_errors(tmp_path) -> None:
    (tmp_path / "corral.toml").write_text(
        '[limits.sites.a]\nmax_jobs_per_user = 2\nmax_cpus_per_user = 8\n')
    cfg = load_config(str(tmp_path))
    assert cfg.limits.sites["a"].max_jobs_per_user == 2
    assert cfg.limits.sites["a"].max_cpus_per_user == 8
    (tmp_path / "corral.toml").write_text('[limits.sites.a]\nmax_jobs_per_user = -1\n')
    with pytest.raises(InvalidRequest, match=r"'limits\.sites\.a\.max_jobs_per_user': "
                       r"Input should be greater than or equal to 0 \(got -1\)"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[limits.sites.a]\nmax_cpus_per_user = 2e9\n')
    with pytest.raises(InvalidRequest, match=r"max_cpus_per_user"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[limits.sites."a b"]\nmax_jobs_per_user = 1\n')
    with pytest.raises(InvalidRequest, match=r"'limits\.sites'.*site name 'a b'"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[limits.sites.a]\nmax_jobs = 1\n')
    with pytest.raises(InvalidRequest, match=r"unknown key 'limits\.sites\.a\.max_jobs'"):
        load_config(str(tmp_path))


def test_config_predictive_settings_and_their_errors(tmp_path) -> None:
    (tmp_path / "corral.toml").write_text(
        '[scheduler]\npolicy = "predictive"\nstarve_waits = 8\nstarve_s = "1-00:00:00"\n')
    cfg = load_config(str(tmp_path))
    assert cfg.scheduler.predictive_settings() == {
        "predictor": "learned", "starve_waits": 8.0, "starve_min_s": 3600.0,
        "starve_s": 86400.0, "starve_warmup": 100,
        "starve_book_max": 1, "starving_at_limits": False,
        "starving_at_limits_share": 0.0, "limits_while_starving": "crossing"}
    (tmp_path / "corral.toml").write_text(
        '[scheduler]\nstarve_book_max = 0\nstarving_at_limits = true\n'
        'limits_while_starving = "crossing"\n')
    guard = load_config(str(tmp_path)).scheduler.predictive_settings()
    assert (guard["starve_book_max"], guard["starving_at_limits"],
            guard["limits_while_starving"]) == (None, True, "crossing")  # 0: every one
    (tmp_path / "corral.toml").write_text(
        '[scheduler]\nstarving_at_limits = true\nstarving_at_limits_share = 0.5\n')
    assert load_config(str(tmp_path)).scheduler.predictive_settings()[
        "starving_at_limits_share"] == 0.5
    (tmp_path / "corral.toml").write_text("[scheduler]\nstarving_at_limits_share = 1.5\n")
    with pytest.raises(InvalidRequest, match=r"'scheduler\.starving_at_limits_share': "
                       r"Input should be less than or equal to 1 \(got 1\.5\)"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[scheduler]\npredictor = "recent"\n')
    assert load_config(str(tmp_path)).scheduler.predictive_settings()["predictor"] == "recent"
    (tmp_path / "corral.toml").write_text('[scheduler]\npredictor = "oracle"\n')
    with pytest.raises(InvalidRequest, match=r"'scheduler\.predictor'.*'oracle'"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[scheduler]\nlimits_while_starving = "some"\n')
    with pytest.raises(InvalidRequest, match=r"'scheduler\.limits_while_starving'.*'some'"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text("[scheduler]\nstarve_waits = -1\n")
    with pytest.raises(InvalidRequest, match=r"'scheduler\.starve_waits': "
                       r"Input should be greater than or equal to 0 \(got -1\)"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text("[scheduler]\nstarve_min_s = 40000000\n")
    with pytest.raises(InvalidRequest, match=r"'scheduler\.starve_min_s': "
                       r"Input should be less than or equal to 31536000 \(got 40000000\)"):
        load_config(str(tmp_path))
    (tmp_path / "corral.toml").write_text('[scheduler]\nstarve_s = "soon"\n')
    with pytest.raises(InvalidRequest, match=r"scheduler\.starve_s: 'soon' is not a duration"):
        load_config(str(tmp_path))
