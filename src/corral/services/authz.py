"""The one authorization point: every action, the role it needs, and `authorize`.

Each action needs one role when the caller acts on their own job (or on nothing
that has an owner) and one when it is someone else's. A refused action is a
PermissionDenied naming what was refused and the role it needs:
"cancel job 12 of bob: needs operator". docs/identity.md shows the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from corral.model.errors import PermissionDenied
from corral.model.roles import Role
from corral.services.identity import Caller


class Action(StrEnum):
    # jobs
    SUBMIT = "submit"
    SUBMIT_AS = "submit_as"  # for another user
    CANCEL = "cancel"
    SIGNAL = "signal"
    HOLD = "hold"
    RELEASE = "release"
    RELEASE_ADMIN_HOLD = "release_admin_hold"  # a hold an operator or administrator set
    REQUEUE = "requeue"
    UPDATE = "update"
    SET_PRIORITY = "set_priority"  # a fixed priority, a negative nice
    RAISE_TIME_LIMIT = "raise_time_limit"
    STEP = "step"  # launch or end steps, end an allocation: work as the job's user
    READ_PRIVATE = "read_private"  # a job's script, environment and command line
    SEE_ALL = "see_all"  # others' jobs when private_data = ["jobs"]
    # nodes
    DRAIN = "drain"
    RESUME = "resume"
    DELETE_NODE = "delete_node"
    # configuration
    CREATE_RESERVATION = "create_reservation"
    DELETE_RESERVATION = "delete_reservation"
    # associations: accounts, users, QOS (sacctmgr)
    MANAGE_ACCOUNTS = "manage_accounts"
    READ_ACCOUNTS = "read_accounts"  # every association, not only one's own
    # the audit trail
    READ_AUDIT = "read_audit"  # others' entries


@dataclass(frozen=True, slots=True)
class Rule:
    own: Role  # on the caller's own job, or on no job
    other: Role  # on another user's job


U, OP, A = Role.USER, Role.OPERATOR, Role.ADMIN

RULES: dict[Action, Rule] = {
    Action.SUBMIT: Rule(U, A),
    Action.SUBMIT_AS: Rule(A, A),
    Action.CANCEL: Rule(U, OP),
    Action.SIGNAL: Rule(U, OP),
    Action.HOLD: Rule(U, OP),
    Action.RELEASE: Rule(U, OP),
    Action.RELEASE_ADMIN_HOLD: Rule(OP, OP),
    Action.REQUEUE: Rule(U, OP),
    Action.UPDATE: Rule(U, OP),
    Action.SET_PRIORITY: Rule(OP, OP),
    Action.RAISE_TIME_LIMIT: Rule(OP, OP),
    Action.STEP: Rule(U, A),
    Action.READ_PRIVATE: Rule(U, A),
    Action.SEE_ALL: Rule(OP, OP),
    Action.DRAIN: Rule(OP, OP),
    Action.RESUME: Rule(OP, OP),
    Action.DELETE_NODE: Rule(A, A),
    Action.CREATE_RESERVATION: Rule(A, A),
    Action.DELETE_RESERVATION: Rule(A, A),
    Action.READ_AUDIT: Rule(OP, OP),
    Action.MANAGE_ACCOUNTS: Rule(A, A),
    Action.READ_ACCOUNTS: Rule(OP, OP),
}


def needed(caller: Caller, action: Action, owner_uid: int | None = None) -> Role:
    """The role the action needs of this caller (owner_uid: the job's owner)."""
    rule = RULES[action]
    return rule.own if owner_uid is None or owner_uid == caller.uid else rule.other


def allows(caller: Caller, action: Action, owner_uid: int | None = None) -> bool:
    return caller.role >= needed(caller, action, owner_uid)


def authorize(caller: Caller, action: Action, owner_uid: int | None = None, *,
              what: str = "") -> None:
    """Refuse unless the caller's role suffices. `what`: the refused action as the
    message says it ("cancel job 12 of bob"); the action's name by default."""
    role = needed(caller, action, owner_uid)
    if caller.role < role:
        raise PermissionDenied(f"{what or action.value}: needs {role}")
