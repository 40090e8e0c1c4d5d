"""The only way we touch the network: an aiohttp client behind an SSRF guard.

Every URL we fetch was named by someone else (keyIds, inReplyTo, WebFinger answers), so
each request is checked (docs/rules.md §8):

* https only; plain http only with ``allow_loopback`` (tests, local demos);
* no user info in URLs; at most 3 redirects, each one checked again;
* every address is checked **on the socket about to connect** (aiohttp's
  ``socket_factory``), so DNS answers, IP literals and redirects all pass the same gate
  and there is no window for DNS rebinding between check and connect;
* only globally routable addresses, plus loopback when ``allow_loopback`` is on;
* timeouts, a 1 MiB body cap read as a stream, AS2 content types only.

Every GET is signed by the instance actor, for servers in authorized-fetch mode.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fedi_forum import __version__
from fedi_forum.activitypub import parse, signatures
from fedi_forum.errors import FetchError, NoAnswer, UnsafeUrl

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_REDIRECTS = 3
AS2_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_ACCEPT = "application/jrd+json, application/json"
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5, sock_read=10)
POST_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5, sock_read=15)


@dataclasses.dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow_loopback: bool = False

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            return self.allow_loopback
        # is_global excludes private, link-local, CGNAT, documentation, multicast, reserved…
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self.allow_loopback):
            raise UnsafeUrl(f"scheme of {url!r} not allowed")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise UnsafeUrl(f"bad host in {url!r}")
        try:
            ip = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: its addresses are checked at connect time
        if not self.allows(str(ip)):
            raise UnsafeUrl(f"address of {url!r} not allowed")


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceSigner:
    key_id: str
    private_key: RSAPrivateKey


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    document: dict[str, Any]


class GuardRefused(OSError):
    """The address a name resolved to is not one we may connect to."""


def _guarded_socket_factory(
    policy: AddressPolicy,
) -> Callable[[tuple[Any, ...]], socket.socket]:
    def factory(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        if not policy.allows(str(sockaddr[0])):
            raise GuardRefused(f"connection to {sockaddr[0]} refused by the SSRF guard")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


class FederationClient:
    def __init__(
        self, *, policy: AddressPolicy, signer: InstanceSigner | None, base_url: str
    ) -> None:
        self.policy = policy
        self.signer = signer
        self.user_agent = f"fedi-forum/{__version__} (+{base_url})"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=200,
            limit_per_host=8,
            ttl_dns_cache=60,
            socket_factory=_guarded_socket_factory(self.policy),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=TIMEOUT,
            headers={"User-Agent": self.user_agent},
            auto_decompress=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("client not started")
        return self._session

    async def _get(
        self, url: str, *, accept: str, signed: bool, max_bytes: int
    ) -> tuple[str, str, bytes]:
        """GET following ≤ 3 redirects, each target checked by the address guard before
        it is asked: (final URL, content type without parameters, body ≤ ``max_bytes``).
        The content type is returned whole for the caller's own rule."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.policy.check_url(current)
            headers = {"Accept": accept}
            if signed and self.signer is not None:
                headers |= signatures.sign_request(
                    method="GET",
                    url=current,
                    key_id=self.signer.key_id,
                    private_key=self.signer.private_key,
                )
            try:
                async with self.session.get(
                    current, headers=headers, allow_redirects=False
                ) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError(f"redirect without Location from {current}")
                        current = urljoin(current, location)
                        continue
                    if response.status == 410:
                        raise GoneError(f"{current} is gone")
                    if response.status != 200:
                        raise FetchError(f"GET {current} answered {response.status}")
                    content_type = response.headers.get("Content-Type", "")
                    body = await _read_capped(response, max_bytes)
            except aiohttp.ClientError as exc:
                raise FetchError(f"GET {current} failed: {exc!r}") from exc
            except TimeoutError as exc:
                raise FetchError(f"GET {current} timed out") from exc
            return current, content_type, body
        raise FetchError(f"too many redirects from {url}")

    async def get_json(self, url: str, *, accept: str = AS2_ACCEPT) -> Fetched:
        """GET (signed by the instance actor), following ≤ 3 checked redirects; the body
        must be JSON of an accepted type and at most 1 MiB."""
        final, content_type, body = await self._get(
            url, accept=accept, signed=True, max_bytes=MAX_BODY
        )
        _check_content_type(content_type, accept)
        return Fetched(final, parse.loads(body))

    async def get_media(
        self, url: str, *, types: frozenset[str], max_bytes: int
    ) -> tuple[str, bytes]:
        """An image for the media proxy: (content type, bytes). Unsigned, ≤ 3 checked
        redirects, the content type must be one of ``types`` (never SVG: it can carry
        script), at most ``max_bytes``. Everything about it is attacker-controlled."""
        _, content_type, body = await self._get(
            url, accept=", ".join(sorted(types)), signed=False, max_bytes=max_bytes
        )
        mime = content_type.partition(";")[0].strip().lower()
        if mime not in types:
            raise FetchError(f"media of type {mime!r} refused")
        return mime, body

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, wait: float | None = None
    ) -> tuple[int, str | None]:
        """POST a signed activity; (status, Retry-After). No redirects are followed (a
        redirected POST is not a delivery). Network failures raise FetchError; a server
        that took the request and did not answer within ``wait`` seconds (default
        ``POST_TIMEOUT``) raises NoAnswer."""
        self.policy.check_url(url)
        limits = POST_TIMEOUT
        if wait is not None:
            limits = aiohttp.ClientTimeout(total=wait, connect=min(5.0, wait), sock_read=wait)
        try:
            async with self.session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=limits
            ) as response:
                await response.content.read(64 * 1024)  # drain a little; never the whole
                return response.status, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, GuardRefused):  # will never be allowed: not a retry
                raise UnsafeUrl(f"POST {url}: {exc.os_error}") from exc
            raise FetchError(f"POST {url} failed: {exc!r}") from exc
        except aiohttp.ConnectionTimeoutError as exc:  # never connected: unreachable
            raise FetchError(f"POST {url}: no connection in time") from exc
        except TimeoutError as exc:  # includes aiohttp's SocketTimeoutError
            raise NoAnswer(f"POST {url}: no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"POST {url} failed: {exc!r}") from exc


class GoneError(FetchError):
    """The remote answered 410: the resource (often an actor) was deleted."""


def _check_content_type(value: str, accept: str) -> None:
    mime, _, params = value.partition(";")
    mime = mime.strip().lower()
    if accept == JRD_ACCEPT:
        if mime in ("application/jrd+json", "application/json"):
            return
    elif mime == "application/activity+json" or (
        mime == "application/ld+json" and "https://www.w3.org/ns/activitystreams" in params
    ):
        return
    raise FetchError(f"unexpected content type {value!r}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise FetchError("response too large")
    chunks = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FetchError("response too large")
        chunks.append(chunk)
    return b"".join(chunks)
