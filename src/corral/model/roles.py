"""Roles: what a caller may do beyond their own jobs.

- user: their own jobs only;
- operator: acts on any job (hold, release, requeue, cancel, signal, update) and
  drains and resumes nodes, but changes no configuration;
- administrator: everything.

The table of actions and the role each needs is services/authz.py.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    USER = 0
    OPERATOR = 1
    ADMIN = 2

    def __str__(self) -> str:
        return _NAMES[self]

    @classmethod
    def parse(cls, text: str) -> Role | None:
        """A role's name as configured or in a token claim (None: not a role)."""
        return _BY_NAME.get(text.strip().lower())


_NAMES = {Role.USER: "user", Role.OPERATOR: "operator", Role.ADMIN: "administrator"}
_BY_NAME = {"user": Role.USER, "operator": Role.OPERATOR, "operators": Role.OPERATOR,
            "admin": Role.ADMIN, "admins": Role.ADMIN, "administrator": Role.ADMIN,
            "administrators": Role.ADMIN}
