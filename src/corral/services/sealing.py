"""Secrets at rest: AES-256-GCM (the `cryptography` package) with a key derived by
HKDF-SHA256 from the controller's secret — `credentials.key_file`, or the cluster
key when none is set. Each sealed value carries a new random 96-bit nonce, and its
context (what it belongs to: a credential's id and kind) is bound as associated
data, so a sealed value copied to another row or field does not open."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from corral.config import Config
from corral.model.errors import CorralError

VERSION = "v1"
NONCE_BYTES = 12
MIN_SECRET_BYTES = 16
_INFO = b"corral job credentials v1"


class SealError(CorralError):
    """A sealed value that does not open: another key, another context, or damaged."""


class NoKey(CorralError):
    """The controller has no secret to derive the sealing key from."""


def derive_key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


class Sealer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise NoKey(f"credentials: the key needs at least {MIN_SECRET_BYTES} bytes, "
                        f"got {len(secret)}")
        self._aead = AESGCM(derive_key(secret))

    @classmethod
    def from_config(cls, cfg: Config) -> Sealer:
        """The configured secret: credentials.key_file's bytes, else the cluster key."""
        path = cfg.credentials.key_file
        if path:
            try:
                return cls(Path(path).read_bytes().strip())
            except OSError as e:
                raise NoKey(f"credentials.key_file {path}: {e.strerror}") from None
        key = cfg.controller.cluster_key
        if not key:
            raise NoKey("credentials: the controller has no key to keep them with "
                        "(credentials.key_file or controller.cluster_key)")
        return cls(key.encode())

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, blob: str, context: str) -> str:
        version, _, body = blob.partition(".")
        if version != VERSION:
            raise SealError(f"sealed value of unknown version {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                      context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SealError("sealed value does not open (another key, another "
                            "credential, or damaged)") from None
