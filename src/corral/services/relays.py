"""Login hosts' relays: which the controller trusts, and for whom.

A relay (corral.relay) runs on a trusted host, reads each local caller's uid from
the kernel and asserts it to the controller with its own key, as munge does for
Slurm: the controller takes its word for its host's users. What the site allows a
relay is bounded here — the addresses it may connect from, the uids it may speak
for, the highest role its callers get — so that root on a login host can become
only the users the site has put within its reach (docs/identity.md)."""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import os
import stat
from dataclasses import dataclass

from corral.config import Config, RelayConfig
from corral.model.errors import CorralError, PermissionDenied, Unauthenticated
from corral.model.roles import Role
from corral.services.identity import Caller, RolePolicy, caller_from_uid

log = logging.getLogger("corral.relays")

MIN_KEY_BYTES = 16
ROLES = {"user": Role.USER, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def read_key(path: str, what: str) -> bytes:
    """A relay key from its file: at least MIN_KEY_BYTES, readable by its owner only."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            key = f.read(4096).strip()
    except OSError as e:
        raise CorralError(f"{what}: cannot read {path}: {e.strerror or e}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CorralError(f"{what}: {path} may be read by other users "
                          f"(mode {stat.S_IMODE(st.st_mode):04o}): make it 0600")
    if len(key) < MIN_KEY_BYTES:
        raise CorralError(f"{what}: {path} holds {len(key)} bytes, fewer than the "
                          f"{MIN_KEY_BYTES} a key needs")
    return key


@dataclass(frozen=True, slots=True)
class Relay:
    name: str
    key: bytes
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    min_uid: int
    max_uid: int
    max_role: Role
    address: str | None

    @classmethod
    def of(cls, cfg: RelayConfig) -> Relay:
        return cls(cfg.name, read_key(cfg.key_file, f"auth.relays {cfg.name}: key_file"),
                   tuple(ipaddress.ip_network(h, strict=False) for h in cfg.hosts),
                   cfg.min_uid, cfg.max_uid, ROLES[cfg.max_role], cfg.address)

    def admits(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            addr = ipaddress.ip_address((host or "").split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)


class Relays:
    """The relays of `auth.relays`, their keys read once at start."""

    def __init__(self, relays: list[Relay]) -> None:
        self.by_name = {r.name: r for r in relays}

    @classmethod
    def of(cls, cfg: Config) -> Relays:
        if cfg.auth.relays and not cfg.controller.listen:
            log.warning("auth.relays: controller.listen is unset: no relay can connect")
        elif cfg.auth.relays and not cfg.controller.tls_cert_file:
            log.warning("auth.relays: controller.listen has no TLS: the relays' keys "
                        "cross the network in clear")
        return cls([Relay.of(r) for r in cfg.auth.relays])

    def authenticate(self, name: str, key: str, host: str | None) -> Relay:
        """The relay `name` if `key` is its key and it connects from an address it
        may; else Unauthenticated (one line, the key never named)."""
        relay = self.by_name.get(name)
        # the comparison is made even for an unknown name: its time says nothing
        expected = relay.key if relay is not None else b"\0" * MIN_KEY_BYTES
        good = hmac.compare_digest(expected, key.encode("utf-8", "replace"))
        if relay is None or not good:
            raise Unauthenticated(f"relay {name!r}: unknown relay or wrong key")
        if not relay.admits(host):
            raise Unauthenticated(f"relay {name}: may not connect from {host}")
        return relay

    @staticmethod
    def caller(relay: Relay, uid_text: str, policy: RolePolicy) -> Caller:
        """The caller a relay speaks for: the local user of that uid (the controller's
        user database), with the role the configuration gives them, at most the
        relay's max_role."""
        if not uid_text.isascii() or not uid_text.isdigit() or len(uid_text) > 10:
            raise Unauthenticated(f"relay {relay.name}: the uid {uid_text[:20]!r} is not "
                                  f"a number")
        uid = int(uid_text)
        if not relay.min_uid <= uid <= relay.max_uid:
            raise PermissionDenied(f"relay {relay.name} may not speak for uid {uid} "
                                   f"(its uids are {relay.min_uid}-{relay.max_uid})")
        local = caller_from_uid(uid, policy)
        return dataclasses.replace(local, role=min(local.role, relay.max_role),
                                   relay=relay.name)
