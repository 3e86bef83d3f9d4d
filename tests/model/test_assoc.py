"""The association tree: changes, inheritance, refusals (corral.model.assoc)."""

from __future__ import annotations

import pytest

from corral.model.assoc import AssocTree, Limits
from corral.model.errors import Conflict, InvalidRequest, NotFound


def _tree() -> AssocTree:
    t = AssocTree()
    t = t.add_account("physics", {"shares": 40, "max_cpus": 8, "max_wall_s": 3600,
                                  "qos": ["normal"]}, known_qos=["normal", "high"])
    t = t.add_account("theory", {"parent": "physics", "max_jobs": 3})
    t = t.add_account("chem", {"shares": 60})
    return t.add_user("alice", ["theory", "chem"], {"max_cpus": 2}, default_account="chem")


def test_limits_and_qos_are_inherited_up_the_tree() -> None:
    t = _tree()
    assert t.limits("alice", "theory") == Limits(max_jobs=3, max_cpus=2, max_gpus=None,
                                                 max_wall_s=3600)
    assert t.limits("bob", "theory") == Limits(max_jobs=3, max_cpus=8, max_wall_s=3600)
    assert t.qos_of("alice", "theory") == (("normal",), None)
    assert t.qos_of("alice", "chem") == ((), None)
    assert [a.name for a in t.chain("theory")] == ["theory", "physics", "root"]
    assert t.default_account("alice") == "chem"
    assert [(d, getattr(n, "name", None) or n.user) for d, n in t.walk()] == [
        (0, "root"), (1, "chem"), (2, "alice"), (1, "physics"), (2, "theory"), (3, "alice")]


def test_deleting_the_default_account_moves_the_default() -> None:
    t = _tree().delete_account("chem")
    assert t.default_account("alice") == "theory"
    t = t.delete_assoc("alice", "theory")
    assert "alice" not in t.users and not t.configured


@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda t: t.add_account("physics", {}), Conflict, "account: 'physics' already exists"),
    (lambda t: t.add_account("x y", {}), InvalidRequest,
     "account: 'x y' is not a name (1-64 letters, digits, _ . -)"),
    (lambda t: t.add_account("x", {"shares": -1}), InvalidRequest,
     "shares: -1 is not a whole number in 0..1000000000"),
    (lambda t: t.add_account("x", {"colour": 1}), InvalidRequest, "colour: not a field of"),
    (lambda t: t.modify_account("physics", {"parent": "theory"}), InvalidRequest,
     "parent: 'theory' is 'physics' or below it"),
    (lambda t: t.delete_account("physics"), Conflict,
     "account: 'physics' has sub-accounts (theory); delete or move them first"),
    (lambda t: t.add_user("bob", ["nosuch"], {}), NotFound,
     "account: no account named 'nosuch'"),
    (lambda t: t.add_user("alice", ["chem"], {}), Conflict,
     "user: 'alice' already has account(s) chem"),
    (lambda t: t.modify_user("alice", {"default_account": "physics"}), InvalidRequest,
     "defaultaccount: user 'alice' has no association with 'physics'"),
    (lambda t: t.add_account("x", {"qos": ["gold"]}), NotFound,
     "qos: no QOS named 'gold' (have: none)"),
])
def test_bad_changes_are_refused_in_one_line(change, error, message) -> None:
    with pytest.raises(error) as e:
        change(_tree())
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_qos_in_use_cannot_be_deleted() -> None:
    t = AssocTree().add_qos("gold", {"priority": 10})
    t = t.add_account("a", {"qos": ["gold"]})
    with pytest.raises(Conflict, match="'gold' is in use by a"):
        t.delete_qos("gold")
    t = t.modify_account("a", {"qos": []}).delete_qos("gold")
    assert not t.qos
