"""`corral dashboard`: open the web dashboard (docs/dashboard.md).

For a controller on this host (its Unix socket) it listens on a loopback port and
forwards each connection to the socket, so that the controller knows the browser's
user by the socket's peer credentials, as it knows the user's commands. Only
processes of the user who runs it may connect: each connection's owner is looked up
in the kernel's table of TCP sockets (/proc/net/tcp) and any other user's is closed
at once. For a remote controller it prints the dashboard's address (sign in there).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from pathlib import Path

import click

from corral.client import default_url
from corral.client.transport import is_remote

CHUNK_B = 65536
BAD_GATEWAY = (b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close"
               b"\r\nContent-Length: 37\r\n\r\nthe controller's socket does not answer")


def _hex_v4(ip: str, port: int) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (e.g. 0100007F:1F90)."""
    (n,) = struct.unpack("<I", socket.inet_aton(ip))
    return f"{n:08X}:{port:04X}"


def peer_uid(peer: tuple[str, int], local: tuple[str, int],
             table: Path = Path("/proc/net/tcp")) -> int | None:
    """The uid owning the loopback TCP socket at `peer` connected to `local` (None:
    not found)."""
    mine, theirs = _hex_v4(*peer), _hex_v4(*local)
    with contextlib.suppress(OSError):
        for line in table.read_text().splitlines()[1:]:
            f = line.split()
            if len(f) > 7 and f[1] == mine and f[2] == theirs:
                return int(f[7])
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK_B):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class Forwarder:
    def __init__(self, socket_path: str, uid: int) -> None:
        self.socket_path = socket_path
        self.uid = uid
        self.refused = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        try:
            if peer_uid(peer[:2], local[:2]) != self.uid:
                self.refused += 1
                return
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            except OSError:
                writer.write(BAD_GATEWAY)
                await writer.drain()
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def serve(self, port: int, announce: bool = True) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port)
        bound = server.sockets[0].getsockname()[1]
        if announce:
            click.echo(f"The dashboard: http://127.0.0.1:{bound}/ui/ (open to your own "
                       f"processes only; Ctrl-C stops it)", err=False)
        async with server:
            await server.serve_forever()


@click.command("dashboard")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The loopback port to listen on (0: any free one).")
def dashboard(port: int) -> None:
    """Open the web dashboard: on this host, a loopback address that takes you to it
    as yourself; for a remote controller, its address (sign in there)."""
    url = default_url()
    if is_remote(url):
        click.echo(f"The dashboard: {url.rstrip('/')}/ui/ (sign in there)")
        return
    path = url.removeprefix("unix://")
    if not Path(path).exists():
        raise click.ClickException(f"no controller at {path}: start one with 'corral up'")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Forwarder(path, os.getuid()).serve(port))
