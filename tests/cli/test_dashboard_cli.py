"""`corral dashboard`'s check of who connects: the owner of a loopback TCP socket, from
the kernel's table."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from corral.cli.dashboard import _hex_v4, peer_uid


def test_hex_as_the_kernel_writes_it() -> None:
    assert _hex_v4("127.0.0.1", 8080) == "0100007F:1F90"


def test_the_owner_of_a_real_loopback_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, peer = server.accept()
        try:
            assert peer_uid(peer, conn.getsockname()) == os.getuid()
            assert peer_uid(("127.0.0.1", 1), conn.getsockname()) is None
        finally:
            conn.close()
            client.close()


def test_a_table_line_names_the_uid(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
        "   uid  timeout inode\n"
        "   0: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000"
        "  1001        0 12345 1 0000000000000000 20 4 30 10 -1\n")
    assert peer_uid(("127.0.0.1", 0xD431), ("127.0.0.1", 8080), table) == 1001
    assert peer_uid(("127.0.0.1", 0xD432), ("127.0.0.1", 8080), table) is None
    assert peer_uid(("127.0.0.1", 1), ("127.0.0.1", 2), tmp_path / "none") is None
