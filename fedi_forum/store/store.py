"""``Store``: the typed async API over the database, composed of one part per entity
(GoToSocial composes its db the same way). Each part is a mixin in a module named for
its entity; SQL that several parts write (append a note, queue deliveries, tombstone a
note, bump a revision) lives once in ``primitives``, column lists and row mappings in
``rows``. A service that needs only one entity may take that part's type instead of
``Store`` (the liveness beat takes ``WorkerStore``).

Every method is one logical operation: reads are one query (one thread hop), writes are
one function run inside the group commit. Pagination is keyset only (``seq``/``id``
comparisons on an index), never OFFSET: the last page of a 10,000-reply discussion costs
what the first one does.
"""

from __future__ import annotations

from fedi_forum.models import Discussion
from fedi_forum.store.actors import ActorStore
from fedi_forum.store.categories import CategoryStore
from fedi_forum.store.deliveries import DeliveryStore
from fedi_forum.store.discussions import DiscussionStore
from fedi_forum.store.engine import Engine
from fedi_forum.store.follows import FollowStore
from fedi_forum.store.imports import ImportStore
from fedi_forum.store.moderation import ModerationStore
from fedi_forum.store.notes import NoteStore
from fedi_forum.store.notifications import NotificationStore
from fedi_forum.store.outbox import OutboxStore
from fedi_forum.store.proposals import ProposalStore
from fedi_forum.store.ratelimits import RateLimitStore
from fedi_forum.store.reactions import ReactionStore
from fedi_forum.store.remote import RemoteStore
from fedi_forum.store.row_cache import RowCache
from fedi_forum.store.sealed_keys import SealedKeyStore
from fedi_forum.store.search import SearchStore
from fedi_forum.store.servers import ServerStore
from fedi_forum.store.site import SiteStore
from fedi_forum.store.staff import StaffStore
from fedi_forum.store.workers import WorkerStore


class Store(
    SiteStore,
    DiscussionStore,
    NoteStore,
    OutboxStore,
    FollowStore,
    ReactionStore,
    ActorStore,
    ServerStore,
    DeliveryStore,
    ModerationStore,
    RemoteStore,
    StaffStore,
    WorkerStore,
    SealedKeyStore,
    RateLimitStore,
    ImportStore,
    NotificationStore,
    SearchStore,
    CategoryStore,
    ProposalStore,
):
    def __init__(self, db: Engine) -> None:
        self.db = db
        self.shown: RowCache[Discussion] = RowCache()

    async def keep_shown_rows(self) -> bool:
        """Serve ``shown_discussion`` from this process's copies, kept only while the
        engine can tell of every change (store/row_cache.py: PostgreSQL's notifications,
        SQLite's data_version). For processes that serve pages; True when on."""
        self.shown.enabled = await self.db.watch_discussions(self.shown)
        return self.shown.enabled
