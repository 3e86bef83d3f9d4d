"""Pseudo terminals for step tasks (srun --pty): open one of a window size, relay
its output, write input to it. The master side is non-blocking, used from asyncio."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from collections.abc import Awaitable, Callable

READ_CHUNK = 65536
WRITE_RETRY_S = 0.01


def open_pty(rows: int, cols: int, uid: int | None) -> tuple[int, int, str]:
    """-> (master fd, slave fd, slave path); the slave given to `uid` when not None."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        name = os.ttyname(slave)
        if uid is not None:
            os.chown(name, uid, -1)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    os.set_blocking(master, False)
    return master, slave, name


async def pump(fd: int, send: Callable[[bytes], Awaitable[None]]) -> None:
    """Pass what the terminal shows to `send`, until no process holds it open (EIO)."""
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            continue
        except OSError:  # EIO: the task's side is closed
            return
        if not chunk:
            return
        await send(chunk)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def write(fd: int, data: bytes) -> None:
    """Type `data` into the terminal (waiting while its input buffer is full)."""
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            await asyncio.sleep(WRITE_RETRY_S)
            continue
        except OSError:
            return
        data = data[n:]
