"""Sites and pilots in the model's terms (docs/pilots.md): a site's name, the ClassAd
text that requires or prefers a site, and a pilot's token.

A pilot's token is what a pilot agent presents instead of the cluster key: the site's
key (shared by the controller and the factory that submits the pilots) signs the
site, the pilot's node name and an expiry (its wall time), so that a token lets one
pilot register one node of one site, until its allocation ends, and nothing else.
Format: base64url(JSON {"site", "node", "exp"}) "." base64url(HMAC-SHA256).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from corral.model.errors import InvalidRequest, Unauthenticated

SITE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_TOKEN_CHARS = 2048
MIN_KEY_BYTES = 32
PILOT_TOKEN_HEADER = "X-Corral-Pilot-Token"


def check_site(field: str, name: str) -> str:
    """A site's name as jobs, agents and the configuration give it."""
    if not SITE_RE.match(name):
        raise InvalidRequest(f"{field}: {name[:80]!r} is not a site name (letters, digits, "
                             f"'_', '.', '-'; at most 64)")
    return name


def site_requirement(site: str, requirements: str | None) -> str:
    """A job's Requirements with `--site` added: only nodes of that site."""
    clause = f'other.Site == "{check_site("site", site)}"'
    return clause if not requirements else f"({requirements}) && {clause}"


def site_rank(site: str, rank: str | None) -> str:
    """A job's Rank with `--prefer-site`: that site's nodes first, then its own Rank
    (nodes of the site outrank any other, whatever its own Rank gives)."""
    clause = f'other.Site == "{check_site("prefer-site", site)}"'
    if not rank:
        return clause
    return f"ifThenElse({clause}, 1e12, 0) + ({rank})"


@dataclass(frozen=True, slots=True)
class PilotClaim:
    site: str
    node: str
    expires: float  # epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def mint_token(key: bytes, site: str, node: str, expires: float) -> str:
    payload = _b64(json.dumps({"site": site, "node": node, "exp": round(expires)},
                              separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_sign(key, payload)}"


def token_site(token: str) -> str:
    """The site a token claims (unchecked: to pick the key that checks it)."""
    return _claim(token).site


def _claim(token: str) -> PilotClaim:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise Unauthenticated("pilot token refused: malformed")
    payload = token.split(".", 1)[0]
    try:
        data = json.loads(_unb64(payload))
        site, node, exp = data["site"], data["node"], data["exp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Unauthenticated("pilot token refused: malformed") from None
    if not (isinstance(site, str) and isinstance(node, str)
            and isinstance(exp, int | float) and not isinstance(exp, bool)):
        raise Unauthenticated("pilot token refused: malformed")
    return PilotClaim(site, node, float(exp))


def verify_token(key: bytes, token: str, now: float) -> PilotClaim:
    """The claim of a token signed with `key`, not expired at `now`."""
    claim = _claim(token)
    payload, sig = token.split(".", 1)
    if not hmac.compare_digest(_sign(key, payload), sig):
        raise Unauthenticated("pilot token refused: bad signature")
    if claim.expires < now:
        raise Unauthenticated("pilot token refused: expired")
    return claim
