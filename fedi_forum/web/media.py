"""``/media/{signature}?url=…``: remote images (avatars) served through us, so no
reader's IP address goes to other servers (the about page promises none is kept).

Only URLs we signed are fetched (an HMAC over the URL with a secret every process
shares), so this is no open proxy. Fetches go through the SSRF-guarded client, unsigned,
image types only (never SVG), at most ``MAX_BYTES``; answers are kept in memory up to
``CACHE_BYTES`` for ``TTL`` seconds, failures for ``FAILURE_TTL`` (a broken avatar is not
fetched again for every page view). Browsers may cache a day.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import FetchError, NotFound
from fedi_forum.federation.client import FederationClient
from fedi_forum.web.state import services

TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
MAX_BYTES = 2 * 1024 * 1024
CACHE_BYTES = 64 * 1024 * 1024
TTL = 24 * 3600.0
FAILURE_TTL = 600.0
FALLBACK = "group-icon.png"  # shown when a remote image cannot be had


class MediaProxy:
    def __init__(
        self,
        base_url: str,
        secret: bytes,
        client: FederationClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self._secret = secret
        self._client = client
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._size = 0
        self.fetches = 0  # observable for tests

    def _sign(self, url: str) -> str:
        return hmac.new(self._secret, url.encode(), hashlib.sha256).hexdigest()[:32]

    def url_for(self, url: str | None) -> str:
        """What a page links to instead of ``url``: our own files as they are, a remote
        http(s) image through the proxy, anything else nothing."""
        if not url:
            return ""
        if url.startswith(f"{self.base_url}/"):
            return url
        if not url.startswith(("https://", "http://")):
            return ""
        return f"{self.base_url}/media/{self._sign(url)}?url={quote(url, safe='')}"

    def is_signed(self, signature: str, url: str) -> bool:
        return hmac.compare_digest(signature, self._sign(url))

    async def get(self, url: str) -> tuple[str, bytes]:
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(url)
            if not cached[2]:
                raise NotFound(f"media {url} failed recently")
            return cached[1], cached[2]
        self.fetches += 1
        try:
            mime, body = await self._client.get_media(url, types=TYPES, max_bytes=MAX_BYTES)
        except FetchError as exc:
            self._keep(url, now + FAILURE_TTL, "", b"")
            raise NotFound(f"media {url}: {exc}") from exc
        self._keep(url, now + TTL, mime, body)
        return mime, body

    def _keep(self, url: str, until: float, mime: str, body: bytes) -> None:
        old = self._cache.pop(url, None)
        if old is not None:
            self._size -= len(old[2])
        self._cache[url] = (until, mime, body)
        self._size += len(body)
        while self._size > CACHE_BYTES or len(self._cache) > 10_000:
            _, (_, _, dropped) = self._cache.popitem(last=False)
            self._size -= len(dropped)


async def media(request: Request) -> Response:
    proxy = services(request).media
    url = request.query_params.get("url", "")  # attacker-controlled until the check
    if not proxy.is_signed(request.path_params["signature"], url):
        raise NotFound("media URL not signed by us")
    try:
        mime, body = await proxy.get(url)
        cache = "public, max-age=86400, immutable"
    except NotFound:
        # the remote image is gone, too big or not an image: our neutral avatar instead
        # of a broken picture, kept briefly (the remote may recover)
        fallback = services(request).static[FALLBACK]
        mime, body, cache = fallback.media_type, fallback.body, "public, max-age=600"
    return Response(
        body,
        media_type=mime,
        headers={
            "Cache-Control": cache,
            # an image that tried to be a document gets nothing to run or load
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline",
        },
    )
