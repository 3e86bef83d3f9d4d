"""Fixtures of the command-line tests."""

from tests.oidc import make_provider  # noqa: F401 (a real OpenID provider, per test)
