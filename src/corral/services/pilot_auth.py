"""Pilots' tokens (docs/pilots.md): each configured site's key, read at start, checks
the tokens its factory gave its pilots; a pilot may speak only for the node its token
names, of the site it names, until its token expires."""

from __future__ import annotations

import time
from dataclasses import dataclass

from corral.config import Config
from corral.model.errors import PermissionDenied, Unauthenticated
from corral.model.pilots import MIN_KEY_BYTES, PilotClaim, token_site, verify_token
from corral.services.relays import read_key

CLAIM_KEY = "corral.pilot"  # the checked claim, in the ASGI scope


@dataclass(frozen=True, slots=True)
class PilotKeys:
    keys: dict[str, bytes]  # site -> its key

    @classmethod
    def of(cls, cfg: Config) -> PilotKeys:
        keys = {}
        for site in cfg.sites:
            key = read_key(site.key_file, f"sites {site.name}: key_file")
            if len(key) < MIN_KEY_BYTES:
                raise PermissionDenied(f"sites {site.name}: key_file {site.key_file} holds "
                                       f"{len(key)} bytes, fewer than {MIN_KEY_BYTES}")
            keys[site.name] = key
        return cls(keys)

    def check(self, token: str) -> PilotClaim:
        site = token_site(token)
        key = self.keys.get(site)
        if key is None:
            raise Unauthenticated(f"pilot token refused: no site {site[:64]!r} is configured")
        return verify_token(key, token, time.time())


def check_speaks_for(claim: PilotClaim | None, node: str, *, site: str | None = None,
                     deadline: float | None = None, registering: bool = False) -> None:
    """A pilot's message must be about its own node (and register it in its site, with
    a deadline no later than its token's end)."""
    if claim is None:
        return
    if node != claim.node:
        raise PermissionDenied(f"pilot token for node {claim.node!r} does not speak for "
                               f"node {node!r}")
    if registering:
        if site != claim.site:
            raise PermissionDenied(f"node {node}: site {site!r} is not its token's "
                                   f"{claim.site!r}")
        if deadline is None or deadline > claim.expires:
            raise PermissionDenied(f"node {node}: a pilot registers with a deadline no "
                                   f"later than its token's end ({claim.expires:.0f})")
