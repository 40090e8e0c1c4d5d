"""The long-lived services a request handler may use, built once by the app lifespan."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import Request

from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.errors import Gone, NotFound
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import FederationClient
from fedi_forum.federation.delivery import DeliveryWorker
from fedi_forum.federation.keys import KeyResolver
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.discussions import Discussions
from fedi_forum.forum.inbox import Inbox
from fedi_forum.forum.remote import RemoteDiscussions
from fedi_forum.forum.staff import Staff
from fedi_forum.forum.views import ViewCounter
from fedi_forum.models import Discussion
from fedi_forum.store import Store
from fedi_forum.store.archive_files import ArchiveFiles
from fedi_forum.web.i18n import Renderer
from fedi_forum.web.ratelimit import RateLimiter, TokenBuckets

if TYPE_CHECKING:
    from fedi_forum.web.media import MediaProxy
    from fedi_forum.web.metrics import Metrics
    from fedi_forum.web.static_files import StaticFile


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    urls: Urls
    store: Store
    discussions: Discussions
    views: ViewCounter
    renderer: Renderer
    instance_public_key_pem: str
    static: Mapping[str, StaticFile]
    blocklist: Blocklist
    keys: KeyResolver
    inbox: Inbox
    delivery: DeliveryWorker | None  # None when deliveries run in `fedi-forum worker`
    report_limiter: RateLimiter
    login_limiter: RateLimiter
    inbox_by_client: TokenBuckets
    inbox_by_server: TokenBuckets
    staff: Staff
    client: FederationClient
    interact_limiter: RateLimiter
    remote: RemoteDiscussions
    media: MediaProxy
    metrics: Metrics
    files: ArchiveFiles  # what an archive import brought along (docs/ning.md)
    categories: Categories


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def client_address(request: Request) -> str:
    """The visitor's address as uvicorn gives it (behind a trusted proxy, from its
    forwarding header: FEDI_FORUM_TRUSTED_PROXIES); "" when unknown. For per-client
    limits only: it is never logged or stored unless the operator asks."""
    return request.client.host if request.client else ""


async def require_discussion(svc: Services, slug: str) -> Discussion:
    """The discussion a URL names: 404 when there is none, 410 when it was deleted."""
    discussion = await svc.store.shown_discussion(slug)
    if discussion is None:
        raise NotFound(f"no discussion {slug!r}")
    if discussion.is_deleted:
        raise Gone(f"discussion {slug!r} deleted")
    return discussion
