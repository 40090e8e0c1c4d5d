"""Categories (docs/categories.md): create and edit them, file discussions under them,
and what a category sends — its Accept of a Follow, its boost of each new discussion
(and, when switched on, of each reply), its ``Update{Group}`` after an edit."""

from __future__ import annotations

import dataclasses
import logging

import orjson

from fedi_forum.activitypub import actors, content, keys, vocab
from fedi_forum.activitypub.shapes import Actor
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.errors import Conflict, InvalidInput, NotFound
from fedi_forum.forum.discussions import normalise_slug
from fedi_forum.models import Category, CategoryKind, CategoryPosting, Discussion, utcnow
from fedi_forum.store import Store
from fedi_forum.store.categories import NewCategory
from fedi_forum.store.keyring import Keyring
from fedi_forum.store.primitives import Outgoing

log = logging.getLogger(__name__)

FORUM_SLUG = "forum"  # the forum-wide actor: @forum@host
MAX_NAME = 80
MAX_DESCRIPTION = 1_000


def category_key_name(slug: str) -> str:
    return f"category-{slug}"


class Categories:
    def __init__(self, settings: Settings, store: Store, keyring: Keyring) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.urls = Urls(settings.base_url)

    async def create(
        self,
        *,
        slug: str,
        name: str,
        description: str = "",
        lang: str | None = None,
        kind: CategoryKind = CategoryKind.CATEGORY,
    ) -> Category:
        slug = normalise_slug(slug)
        name = " ".join(name.split())
        lang = lang or self.settings.default_lang
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidInput("bad name", public_message=f"name must be 1-{MAX_NAME} chars")
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput("bad description", public_message="description too long")
        if lang not in LANGUAGES:
            raise InvalidInput("bad lang", public_message=f"language must be one of {LANGUAGES}")
        if await self.store.category(slug) or await self.store.discussion(slug):
            raise Conflict("taken", public_message="that name is already taken")
        key = await self.keyring.load_or_create(category_key_name(slug))
        category = await self.store.create_category(
            NewCategory(
                slug=slug,
                kind=kind,
                name=name,
                description=description.strip(),
                lang=lang,
                public_key_pem=keys.public_pem(key),
                now=utcnow(),
            )
        )
        log.info("created category %s", slug)
        return category

    async def ensure_forum(self) -> Category | None:
        """The forum-wide actor, made once (at ``serve`` start); None when a discussion
        or staff member already has its name."""
        existing = await self.store.category(FORUM_SLUG)
        if existing is not None:
            return existing if existing.is_forum else None
        try:
            return await self.create(
                slug=FORUM_SLUG, name=self.settings.instance_name, kind=CategoryKind.FORUM
            )
        except Conflict:
            # another process starting at the same moment made it, or the name is taken
            made = await self.store.category(FORUM_SLUG)
            if made is not None and made.is_forum:
                return made
            log.warning("@%s is taken: no forum-wide actor", FORUM_SLUG)
            return None

    async def edit(
        self,
        slug: str,
        *,
        name: str | None = None,
        description: str | None = None,
        posting: CategoryPosting | None = None,
        relay_replies: bool | None = None,
    ) -> Category:
        """A new name, description, posting rule or reply relay (whether it boosts
        every reply of its discussions too); followers get ``Update{Group}``."""
        c = await self.require(slug)
        name = " ".join(name.split()) if name is not None else c.name
        description = description.strip() if description is not None else c.description
        if not 1 <= len(name) <= MAX_NAME or len(description) > MAX_DESCRIPTION:
            raise InvalidInput("bad edit", public_message=f"name must be 1-{MAX_NAME} chars")
        now = utcnow()
        changed = dataclasses.replace(
            c,
            name=name,
            description=description,
            posting=posting or c.posting,
            relay_replies=c.relay_replies if relay_replies is None else relay_replies,
            updated_at=now,
        )
        actor = self.urls.category(c.slug)
        update = vocab.update(self.urls.update(actor, now), actor, self.document(changed))
        edited = await self.store.edit_category(
            c.slug,
            name=name,
            description=description,
            posting=changed.posting,
            relay_replies=changed.relay_replies,
            now=now,
            update=Outgoing(update["id"], orjson.dumps(update).decode(), actor),
        )
        if edited is None:
            raise NotFound(f"no category {slug!r}")
        return edited

    async def require(self, slug: str) -> Category:
        c = await self.store.category(normalise_slug(slug))
        if c is None:
            raise NotFound(f"no category {slug!r}")
        return c

    async def file(self, discussion: str, category: str | None) -> Discussion:
        """Put a discussion under a category (None: under none). Only what is created
        afterwards is boosted by the category."""
        category_id = None
        if category:
            c = await self.require(category)
            if c.is_forum:
                raise InvalidInput("forum", public_message="every discussion is in the forum")
            category_id = c.id
        d = await self.store.set_discussion_category(
            normalise_slug(discussion), category_id, utcnow()
        )
        if d is None or d.is_deleted:
            raise NotFound(f"no discussion {discussion!r}")
        return d

    def document(self, c: Category) -> Actor:
        return actors.category_actor(
            self.urls,
            slug=c.slug,
            domain=self.settings.domain,
            name=c.name,
            summary_html=content.plain_text_to_html(c.description) if c.description else "",
            public_key_pem=c.public_key_pem,
            published=c.created_at,
            updated=c.updated_at,
            icon_url=self.urls.static("group-icon.png"),
            restricted=c.posting is CategoryPosting.CLOSED,
        )
