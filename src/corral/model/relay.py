"""The words a login host's relay (corral.relay) and the controller (api/auth.py)
share: the headers with which a relay names itself, proves it with its key and
says which local uid a request comes from (docs/identity.md, "Login hosts")."""

from __future__ import annotations

RELAY_HEADER = "x-corral-relay"  # the relay's name, as the controller's auth.relays has it
RELAY_KEY_HEADER = "x-corral-relay-key"  # its shared secret
RELAY_UID_HEADER = "x-corral-relay-uid"  # the caller's uid, read from the kernel

# headers a caller of the relay may not send on: the relay speaks for them
STRIPPED = frozenset({"authorization", "x-corral-cluster-key", RELAY_HEADER,
                      RELAY_KEY_HEADER, RELAY_UID_HEADER})
