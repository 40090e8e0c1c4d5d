"""Pre-signed inbox load: unique Create(Note) replies from simulated actors, signed with
draft-cavage rsa-sha256 + Digest by our own signer (RSA is slow: 2 processes), kept as
(path, headers, body) and rendered as raw HTTP for wrk; plus the bad variants of G1-rej.
Loopback only: the actors live at REMOTE (never fetched) or on a local key server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from fedi_forum.activitypub import keys
from fedi_forum.activitypub.signatures import sign_request

SEP = b"\n#--8<--#\n"
REMOTE = "http://remote.invalid"
# wrk replays the file's requests in order, from an optional offset (args[2]).
LUA = """
local reqs = {}
local i = 0
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a"); f:close()
  local sep = "\\n#--8<--#\\n"
  local s = 1
  while true do
    local a, b = string.find(data, sep, s, true)
    if not a then table.insert(reqs, string.sub(data, s)); break end
    table.insert(reqs, string.sub(data, s, a - 1)); s = b + 1
  end
  i = tonumber(args[2] or "0") or 0
end
request = function() i = i % #reqs + 1; return reqs[i] end
"""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to sign: request n comes from actor (n % actors) of ``origin`` (key
    ``pems[actor % len(pems)]``) and replies in discussion ``b{n % discussions}``."""

    base: str  # the server under test
    pems: list[bytes]
    actors: int
    discussions: int
    origin: str = REMOTE
    actor_prefix: str = "a"
    tag: str = ""  # makes ids unique across plans
    skew_s: int = 0  # sign this many seconds in the past (stale Date: G1-rej)


Signed = tuple[str, dict[str, str], bytes]  # path, headers, body


def _sign_range(args: tuple[Plan, int, int]) -> list[Signed]:
    plan, start, stop = args
    private = [keys.load_private_pem(p) for p in plan.pems]
    now = datetime.now(UTC) - timedelta(seconds=plan.skew_s)
    out = []
    for i in range(start, stop):
        a = i % plan.actors
        actor = f"{plan.origin}/users/{plan.actor_prefix}{a}"
        d = i % plan.discussions
        note = {
            "id": f"{actor}/statuses/{plan.tag}{i}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>Reactie {i}: de fietsroute langs het kanaal is een goed idee, "
            "maar let op de verlichting.</p>",
            "inReplyTo": f"{plan.base}/d/b{d}/m/0",
            "published": "2026-11-28T10:00:00Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers", f"{plan.base}/d/b{d}"],
        }
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{note['id']}/activity",
            "type": "Create",
            "actor": actor,
            "to": note["to"],
            "cc": note["cc"],
            "object": note,
        }
        body = json.dumps(activity).encode()
        path = f"/d/b{d}/inbox"
        headers = sign_request(
            method="POST",
            url=f"{plan.base}{path}",
            key_id=f"{actor}#main-key",
            private_key=private[a % len(private)],
            body=body,
            now=now,
        )
        out.append((path, headers, body))
    return out


def sign(plan: Plan, start: int, count: int) -> list[Signed]:
    chunks = [(plan, s, min(s + 2000, start + count)) for s in range(start, start + count, 2000)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        return [r for part in pool.map(_sign_range, chunks) for r in part]


def raw(requests: list[Signed]) -> bytes:
    """As wrk sends them (keep-alive HTTP/1.1)."""
    rendered = []
    for path, headers, body in requests:
        head = (
            f"POST {path} HTTP/1.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"content-length: {len(body)}\r\n\r\n"
        )
        rendered.append(head.encode() + body)
    return SEP.join(rendered)


def rejected_variants(good: list[Signed], stale: list[Signed]) -> list[Signed]:
    """G1-rej: a third each of a bad signature, a body that does not match its Digest,
    and a stale Date (signed 2 h ago)."""
    out: list[Signed] = []
    for n, (path, headers, body) in enumerate(good):
        kind = n % 3
        h = dict(headers)
        if kind == 0:
            sig = h["signature"]
            at = sig.index('signature="') + len('signature="') + 5
            h["signature"] = sig[:at] + ("A" if sig[at] != "A" else "B") + sig[at + 1 :]
            out.append((path, h, body))
        elif kind == 1:
            out.append((path, h, body.replace(b"Reactie", b"Reactie!", 1)))
        else:
            out.append(stale[n % len(stale)])
    return out


def oversize(good: list[Signed]) -> list[bytes]:
    """G1-rej, the fourth kind: a declared body over the 1 MiB cap. The server answers
    413 from the Content-Length alone, before reading; only the head and a few bytes are
    sent (a real 1 MiB body costs the server the same, and the load generator, on the
    same 2 cores, far more; wrk refuses such requests, hence oversize_load)."""
    heads = []
    for path, headers, _ in good:
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "host")
            + f"content-length: {1024 * 1024 + 1}\r\n\r\n"
        )
        heads.append(head.encode() + b"{}")
    return heads


async def oversize_load(
    port: int, heads: list[bytes], concurrency: int, seconds: float
) -> dict[str, float]:
    """Each connection: send one oversize request, read the answer, close. Returns the
    rate of 413 answers and anything else seen."""
    counts = {"413": 0, "other": 0}
    stop = time.monotonic() + seconds

    async def worker(n: int) -> None:
        while time.monotonic() < stop:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(heads[n % len(heads)])
            await writer.drain()
            status = (await reader.readline()).split(b" ", 2)[1:2]
            counts["413" if status == [b"413"] else "other"] += 1
            writer.close()
            await writer.wait_closed()
            n += concurrency

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return {"rps": counts["413"] / seconds, "other": float(counts["other"])}


async def timed_posts(
    base: str, requests: list[Signed], concurrency: int, seconds: float
) -> list[tuple[float, int]]:
    """Send requests in order from ``concurrency`` connections for at most ``seconds``;
    (latency ms, status) of each. A closed-loop client like wrk, but per request."""
    results: list[tuple[float, int]] = []
    next_index = 0
    stop = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while time.monotonic() < stop and next_index < len(requests):
            path, headers, body = requests[next_index]
            next_index += 1
            t0 = time.perf_counter()
            async with session.post(f"{base}{path}", data=body, headers=headers) as r:
                await r.read()
                results.append(((time.perf_counter() - t0) * 1000, r.status))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return results


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def write_load(path: Path, requests: list[Signed]) -> Path:
    path.write_bytes(raw(requests))
    return path
