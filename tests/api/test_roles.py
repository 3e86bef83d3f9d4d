"""Roles: where they come from (configuration, Unix groups, token claims) and the table."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from corral.config import RolesConfig
from corral.model.errors import PermissionDenied
from corral.model.roles import Role
from corral.services.authz import RULES, Action, allows, authorize
from corral.services.identity import Caller, RolePolicy, caller_from_claims, caller_from_uid


def _policy(**kw: list[str] | str) -> RolePolicy:
    return RolePolicy.of(RolesConfig.model_validate(kw), admin_uid=4242)


def test_roles_from_the_configuration_by_name_and_group() -> None:
    p = _policy(operators=["alice"], operator_groups=["hpcops"], admins=["carol"],
                admin_groups=["wheel2"])
    assert p.role_of(1000, "alice", ()) == Role.OPERATOR
    assert p.role_of(1001, "bob", ("users", "hpcops")) == Role.OPERATOR
    assert p.role_of(1002, "carol", ()) == Role.ADMIN
    assert p.role_of(1003, "dave", ("wheel2", "hpcops")) == Role.ADMIN
    assert p.role_of(1004, "eve", ("users",)) == Role.USER
    assert p.role_of(0, "root", ()) == Role.ADMIN
    assert p.role_of(4242, "corral", ()) == Role.ADMIN  # the controller's uid


def test_a_local_callers_unix_groups_give_their_role() -> None:
    me = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(me.pw_gid).gr_name
    p = RolePolicy.of(RolesConfig(operator_groups=[group]), admin_uid=-1)
    caller = caller_from_uid(os.getuid(), p)
    assert group in caller.groups
    assert caller.role == (Role.ADMIN if os.getuid() == 0 else Role.OPERATOR)
    nobody = caller_from_uid(61999, p)  # no such user: a plain user named by uid
    assert (nobody.user, nobody.role, nobody.is_admin) == ("61999", Role.USER, False)


@pytest.mark.parametrize(("claim", "claims", "role"), [
    ("roles", {"roles": ["operator"]}, Role.OPERATOR),
    ("roles", {"roles": "reader admin"}, Role.ADMIN),
    ("roles", {"roles": ["reader", "viewer"]}, Role.USER),
    ("roles", {"roles": 5}, Role.USER),
    ("roles", {}, Role.USER),
    ("realm_access.roles", {"realm_access": {"roles": ["administrator"]}}, Role.ADMIN),
    ("realm_access.roles", {"realm_access": ["administrator"]}, Role.USER),
])
def test_roles_from_token_claims(claim: str, claims: dict[str, object], role: Role) -> None:
    assert _policy(claim=claim).role_from_claims(claims) == role


def test_a_token_caller_takes_the_highest_role_of_its_sources() -> None:
    p = _policy(operator_groups=["hpcops"])
    c = caller_from_claims(uid=61005, user="nosuchuser5", gid=61005, claims={"roles": []},
                           policy=p, subject="s-1", issuer="https://idp", groups=["hpcops"])
    assert (c.role, c.subject, c.issuer) == (Role.OPERATOR, "s-1", "https://idp")
    c = caller_from_claims(uid=61005, user="nosuchuser5", gid=61005,
                           claims={"roles": ["admin"]}, policy=p, subject="s-1",
                           issuer="https://idp")
    assert c.is_admin and c.describe() == ("nosuchuser5 (administrator; token of s-1 "
                                           "from https://idp)")


def test_the_table_on_own_and_others_jobs() -> None:
    user, op, admin = (Caller(uid=uid, user=n, gid=uid, role=r) for uid, n, r in (
        (1, "bob", Role.USER), (2, "olga", Role.OPERATOR), (3, "ann", Role.ADMIN)))
    for action in (Action.CANCEL, Action.SIGNAL, Action.HOLD, Action.RELEASE,
                   Action.REQUEUE, Action.UPDATE):
        assert allows(user, action, 1) and not allows(user, action, 9)
        assert allows(op, action, 9) and allows(admin, action, 9)
    for action in (Action.DRAIN, Action.RESUME):
        assert not allows(user, action) and allows(op, action)
    for action in (Action.DELETE_NODE, Action.CREATE_RESERVATION, Action.DELETE_RESERVATION,
                   Action.SUBMIT_AS):
        assert not allows(op, action) and allows(admin, action)
    assert not allows(op, Action.STEP, 9)  # operators do not run work as others
    assert set(RULES) == set(Action)
    with pytest.raises(PermissionDenied, match=r"^cancel job 12 of ann: needs operator$"):
        authorize(user, Action.CANCEL, 3, what="cancel job 12 of ann")
