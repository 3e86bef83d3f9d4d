"""A real controller taking tokens from the test OpenID provider (tests/oidc.py) on a
loopback TCP port, with TLS or without, and its Unix users: the set-up the end-to-end
tests of remote users share."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.users import UnixUser, ensure_user
from tests.oidc import AUDIENCE, CLIENT_ID, Provider, free_port


def self_signed(directory: Path, ips: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """A certificate for `ips` and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corral test controller")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def issuer_config(provider: Provider, *, client_id: str | None = CLIENT_ID,
                  extra: str = "") -> str:
    """The controller's [[auth.issuers]] entry for `provider` (`client_id`: the
    device-flow client `corral login` uses, none for none); `extra`: lines that follow
    it (keys of its own or sub-tables such as [auth.issuers.clients])."""
    client = f'client_id = "{client_id}"\n' if client_id else ""
    return f"""
[[auth.issuers]]
issuer = "{provider.issuer}"
audience = "{AUDIENCE}"
algorithms = ["ES256"]
{client}resource = "{AUDIENCE}"
{extra}"""


@dataclass
class OidcSite:
    root: Path
    cluster: Cluster
    provider: Provider
    port: int
    users: dict[str, UnixUser]
    cert: Path | None  # the controller's certificate, with TLS

    @property
    def url(self) -> str:
        return f"{'https' if self.cert else 'http'}://127.0.0.1:{self.port}"

    def remote_env(self) -> dict[str, str]:
        """The environment of a client on another host: no state directory, the
        controller's URL (and CA), a configuration directory of its own."""
        env = {k: v for k, v in self.cluster.env.items() if k != "CORRAL_STATE_DIR"}
        env.update(CORRAL_URL=self.url, XDG_CONFIG_HOME=str(self.root / "remote-config"))
        if self.cert is not None:
            env["CORRAL_CA_FILE"] = str(self.cert)
        return env


@contextlib.contextmanager
def oidc_site(prefix: str, users: Sequence[str],
              provider: Callable[[Path, int], Provider], *, cluster_key: str,
              tls: bool = False, controller_config: str = "", extra_config: str = "",
              client_id: str | None = CLIENT_ID, issuer_extra: str = "",
              port: int | None = None) -> Iterator[OidcSite]:
    """A directory (mkdtemp `prefix`), the Unix `users`, the provider made by
    `provider(root, port)` (`port`: the controller's) and started, and a cluster
    listening on 127.0.0.1:`port` (TLS with a self-signed certificate when `tls`)
    that takes its tokens; `controller_config` and `extra_config` are added to the
    [controller] table and after it, `client_id` and `issuer_extra` go to the issuer
    (issuer_config); `port`: the controller's (by default one free now). All stopped
    and removed on the way out."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        unix_users = {name: ensure_user(name, root) for name in users}
        port = port or free_port()
        idp = provider(root, port)
        idp.start()
        try:
            cert: Path | None = None
            listen = f'listen = "127.0.0.1:{port}"\ncluster_key = "{cluster_key}"\n'
            if tls:
                cert, key = self_signed(root)
                listen += f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'
            cluster = make_cluster(
                root, controller_config=listen + controller_config,
                extra_config=extra_config + issuer_config(idp, client_id=client_id,
                                                          extra=issuer_extra))
            try:
                yield OidcSite(root, cluster, idp, port, unix_users, cert)
            finally:
                cluster.down()
        finally:
            idp.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
