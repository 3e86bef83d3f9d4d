"""A TCP port forwarder for the tests: `python -m tests.e2e.portforward LISTEN_HOST
LISTEN_PORT TARGET_HOST TARGET_PORT` listens (in whatever network namespace it is
started) and joins each connection to the target. Prints "ready" once listening."""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _join(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                port: int) -> None:
    try:
        far_reader, far_writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                        10)
    except (OSError, TimeoutError):
        writer.close()
        return
    await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))


async def main(listen_host: str, listen_port: int, host: str, port: int) -> None:
    server = await asyncio.start_server(lambda r, w: _join(r, w, host, port), listen_host,
                                        listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
