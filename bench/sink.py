"""A minimal keep-alive HTTP/1.1 sink for fan-out benchmarks: answers every request
202 after a uniform random delay, listening on 127.0.0.1..127.0.0.N (loopback only)
to stand for N remote servers. Stops by itself after LIFETIME seconds.

    python bench/sink.py PORT NHOSTS LIFETIME_S LO_MS,HI_MS [DEAD FAILING]

Host i (1-based) is ``address(i)``: 127.0.0.1–127.0.0.254, then 127.0.1.1 …

With DEAD and FAILING (G2-iso), the last DEAD hosts read requests and never answer
(a black hole after connect: the sender waits for its timeout) and the FAILING hosts
before them answer 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from typing import ClassVar

REPLY = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
ERROR = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
NODEINFO = b'{"links":[]}'


class Sink(asyncio.Protocol):
    lo = hi = 0.0
    count = 0
    dead: ClassVar[set[str]] = set()
    failing: ClassVar[set[str]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host = transport.get_extra_info("sockname")[0]
        self.reply = None if host in Sink.dead else ERROR if host in Sink.failing else REPLY
        self.buf = b""
        self.need: int | None = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                self.buf = self.buf[end + 4 :]
                length = 0
                at = head.find(b"content-length:")
                if at >= 0:
                    length = int(head[at + 15 :].split(b"\r\n", 1)[0])
                self.need = length
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = None
            Sink.count += 1
            delay = random.uniform(self.lo, self.hi) / 1000
            asyncio.get_running_loop().call_later(delay, self._reply)

    def _reply(self) -> None:
        if self.reply is not None and not self.transport.is_closing():
            self.transport.write(self.reply)


def address(i: int) -> str:
    """The loopback address of host ``i`` (1-based), past 254 into 127.0.1.x."""
    return f"127.0.{(i - 1) // 254}.{(i - 1) % 254 + 1}"


async def main() -> None:
    port, hosts, lifetime = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    Sink.lo, Sink.hi = (float(x) for x in sys.argv[4].split(","))
    if len(sys.argv) > 6:
        dead, failing = int(sys.argv[5]), int(sys.argv[6])
        Sink.dead = {address(i) for i in range(hosts - dead + 1, hosts + 1)}
        Sink.failing = {address(i) for i in range(hosts - dead - failing + 1, hosts - dead + 1)}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        Sink, host=[address(i) for i in range(1, hosts + 1)], port=port, backlog=4096
    )
    stop: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    print("ready", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop, lifetime)
    server.close()
    print("requests", Sink.count, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
