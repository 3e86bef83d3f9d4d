"""Parsing of controller messages and the report shape."""

from __future__ import annotations

from typing import Any

import pytest

from corral.agent.protocol import JobReport, Launch, Order, ProtocolError

LAUNCH: dict[str, Any] = {
    "job_id": 17, "name": "hello", "user": "alice", "uid": 1000, "gid": 1000,
    "script": "#!/bin/sh\necho hi\n", "argv": [], "working_dir": "/home/alice",
    "environment": {"K": "V"}, "stdout": "/home/alice/corral-17.out",
    "stderr": "/home/alice/corral-17.out", "time_limit_s": 60, "mem_mb": 1024, "cpus": 1,
    "gpus": 0, "node_list": ["n1"], "kill_grace_s": 5,
}


def test_spec_example_launch_parses() -> None:
    order = Order.from_dict({"kind": "launch", "job_id": 17, "launch": LAUNCH})
    assert order.launch is not None
    assert order.launch.script == "#!/bin/sh\necho hi\n"
    assert order.launch.time_limit_s == 60.0 and order.launch.mem_mb == 1024
    assert order.launch.node_list == ("n1",)


def test_cancel_and_signal_orders() -> None:
    c = Order.from_dict({"kind": "cancel", "job_id": 17, "signal": 15, "grace_s": 5})
    assert (c.kind, c.signal, c.grace_s) == ("cancel", 15, 5.0)
    s = Order.from_dict({"kind": "signal", "job_id": 17, "signal": 10})
    assert (s.kind, s.signal) == ("signal", 10)


def test_defaults_and_null_mem() -> None:
    d = {**LAUNCH, "mem_mb": None, "stderr": None, "time_limit_s": 0}
    launch = Launch.from_dict(d)
    assert launch.mem_mb is None and launch.stderr == launch.stdout
    assert launch.time_limit_s == 0


@pytest.mark.parametrize("change", [
    {"script": None, "argv": []},
    {"uid": "1000"},
    {"uid": True},
    {"environment": {"K": 1}},
    {"working_dir": None},
])
def test_bad_launches_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        Launch.from_dict({**LAUNCH, **change})


def test_script_with_arguments() -> None:
    launch = Launch.from_dict({**LAUNCH, "argv": ["a b", "c"]})
    assert launch.script and launch.argv == ("a b", "c")


def test_unknown_order_kind() -> None:
    with pytest.raises(ProtocolError, match="unknown order kind"):
        Order.from_dict({"kind": "reboot", "job_id": 1})


def test_report_shape() -> None:
    d = JobReport(17, "CANCELLED", signal=15, cancelled=True).to_dict()
    assert set(d) == {"job_id", "state", "exit_code", "signal", "t_start", "t_end",
                      "cpu_time_s", "max_rss_mb", "energy_j", "message", "cancelled", "run",
                      "prolog_failed", "prolog_message", "epilog_failed", "epilog_message", "lost"}


def test_credential_orders_and_a_launchs_credential() -> None:
    base = {"job_id": 3, "uid": 1, "gid": 1, "argv": ["true"], "working_dir": "/tmp"}
    o = Order.from_dict({"kind": "launch", "job_id": 3, "launch": {
        **base, "credential": {"token": "t1", "expires_at": 5.0}}})
    assert (o.credential, o.token) == (True, "t1")
    assert o.launch is not None and "t1" not in repr(o.launch)  # not kept in the run's record
    o = Order.from_dict({"kind": "launch", "job_id": 3, "launch": {
        **base, "credential": {"token": None}}})
    assert (o.credential, o.token) == (True, None)
    o = Order.from_dict({"kind": "launch", "job_id": 3, "launch": base})
    assert (o.credential, o.token) == (False, None)
    o = Order.from_dict({"kind": "credential", "job_id": 3, "token": "t2", "run": 0})
    assert (o.kind, o.token, o.run) == ("credential", "t2", 0)
    with pytest.raises(ProtocolError, match="token"):
        Order.from_dict({"kind": "credential", "job_id": 3})


def test_a_logged_order_withholds_its_token() -> None:
    from corral.agent.daemon import _without_tokens
    logged = repr(_without_tokens({"kind": "credential", "job_id": 3, "token": "eyJsecret"}))
    assert "eyJsecret" not in logged and "credential" in logged
    logged = repr(_without_tokens({"kind": "launch", "job_id": 3, "launch": {
        "job_id": 3, "credential": {"token": "eyJsecret"}}}))
    assert "eyJsecret" not in logged and "job_id" in logged
