"""`corral-relay`: the login host's relay daemon (docs/identity.md, "Login hosts").

It serves a Unix socket — by default /run/corral/corral.sock, where every client
on the host looks for a controller when nothing else is set — and forwards each
request to the controller over TLS, as the uid the kernel says the caller has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import httpx
import uvicorn

from corral import logs
from corral.api.peercred import PeerCredH11Protocol
from corral.relay.proxy import RelayApp

log = logging.getLogger("corral.relay")

DEFAULT_SOCKET = "/run/corral/corral.sock"
DEFAULT_KEY_FILE = "/etc/corral/relay.key"
MIN_KEY_BYTES = 16
LOG_FORMAT = "%(asctime)s corral-relay[%(process)d] %(levelname)s %(message)s"


def read_key(path: Path) -> str:
    """The relay's key: its file's first line, at least MIN_KEY_BYTES, readable by
    its owner only (whoever reads it may speak for every user the relay may)."""
    try:
        st = path.stat()
        key = path.read_bytes()[:4096].strip().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise click.ClickException(f"--key-file: cannot read {path}: {e}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise click.ClickException(f"--key-file: {path} may be read by other users "
                                   f"(mode {stat.S_IMODE(st.st_mode):04o}): make it 0600")
    if len(key) < MIN_KEY_BYTES:
        raise click.ClickException(f"--key-file: {path} holds {len(key)} bytes, fewer "
                                   f"than the {MIN_KEY_BYTES} a key needs")
    return key


def check_controller(urls: str) -> str:
    """https://HOST:PORT, or several comma separated (plain http:// only to the
    loopback: the key would cross the network in clear)."""
    listed = [u.strip() for u in urls.split(",") if u.strip()]
    for url in listed or [urls]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)) \
                or parts.path not in ("", "/"):
            raise click.ClickException(f"--controller: needs https://HOST:PORT (http:// "
                                       f"only to the loopback), got {url!r}")
    return urls


def bind(path: Path) -> socket.socket:
    """The relay's socket, open to every local user (the kernel says who each is);
    a stale one of a relay that died is replaced, a live one is not."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()
        else:
            raise click.ClickException(f"--socket: something already listens on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o666)
    sock.listen(1024)
    return sock


def tls_verify(ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as e:
            raise click.ClickException(f"--ca-file: cannot load {ca_file}: {e}") from None
    return ctx


async def serve(app: RelayApp, sock: socket.socket) -> None:
    try:  # say at once whether the controller answers (the relay serves either way)
        r = await app.client.get(app.controller + "/v1/auth")
        log.info("relay %s up: socket %s, controller %s (HTTP %s)", app.name,
                 sock.getsockname(), app.controller, r.status_code)
    except httpx.HTTPError as e:
        log.warning("relay %s up: socket %s; the controller %s does not answer yet: %s",
                    app.name, sock.getsockname(), app.controller, e or type(e).__name__)
    config = uvicorn.Config(app, http=PeerCredH11Protocol, lifespan="off", ws="none",
                            log_config=None, access_log=False, log_level="warning",
                            timeout_graceful_shutdown=2,
                            server_header=False, date_header=False)  # (the controller's pass)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        await app.close()


@click.command("corral-relay", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--controller", required=True, envvar="CORRAL_CONTROLLER",
              help="The controller: https://HOST:PORT (several, comma separated: "
                   "controllers sharing a store; requests go to the one leading).")
@click.option("--name", default=None, envvar="CORRAL_RELAY_NAME",
              help="This relay's name in the controller's auth.relays (default: the "
                   "host's short name).")
@click.option("--key-file", type=click.Path(path_type=Path), default=DEFAULT_KEY_FILE,
              envvar="CORRAL_RELAY_KEY_FILE", show_default=True,
              help="The relay's key (mode 0600).")
@click.option("--socket", "socket_path", type=click.Path(path_type=Path),
              default=DEFAULT_SOCKET, envvar="CORRAL_RELAY_SOCKET", show_default=True,
              help="The Unix socket to serve (clients look here when nothing is set).")
@click.option("--ca-file", default=None, envvar="CORRAL_CA_FILE",
              help="A CA to trust for the controller's certificate, besides the system's.")
@click.option("--log-file", default=None, help="Append the log here instead of stderr.")
@click.option("--log-format", type=click.Choice(logs.LOG_FORMATS), default="text",
              show_default=True, help="text, or json: one JSON object per line.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request (not only changes).")
def main(controller: str, name: str | None, key_file: Path, socket_path: Path,
         ca_file: str | None, log_file: str | None, log_format: logs.LogFormat,
         verbose: bool) -> None:
    """Serve this host's users: each request on the socket goes to the controller
    as the Unix user who made it."""
    logs.setup(log_format, LOG_FORMAT, level=logging.DEBUG if verbose else logging.INFO,
               stream=sys.stderr, log_file=log_file, process="corral-relay")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    name = name or socket.gethostname().split(".")[0]
    app = RelayApp(check_controller(controller), name, read_key(key_file),
                   verify=tls_verify(ca_file))
    sock = bind(socket_path)
    try:
        asyncio.run(serve(app, sock))
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            socket_path.unlink()


if __name__ == "__main__":
    main()
