"""Creating and administering discussions: what staff and the forum do to one — create
(by hand, from an archive, from a fediverse post), edit, switch, close, reply, and the
documents that follow from it (its Group actor, opening post, Updates). One concept,
over 400 lines because each action builds what it federates next to what it stores;
uploaded images are re-encoded in ``images``."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Set

import orjson

from fedi_forum.activitypub import actors, content, keys, vocab
from fedi_forum.activitypub.shapes import Actor, NoteDoc
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.errors import Conflict, InvalidInput, InvalidSlug, NotFound
from fedi_forum.forum.images import IMAGE_SIZES, reencode
from fedi_forum.forum.members import staff_key_name
from fedi_forum.forum.ning_archive import our_slug
from fedi_forum.forum.notes import (
    category_announces,
    category_relay,
    group_announce,
    passed_on,
)
from fedi_forum.models import (
    RESERVED_SLUGS,
    SLUG_RE,
    Discussion,
    DiscussionState,
    NewNote,
    RemoteActor,
    utcnow,
)
from fedi_forum.store import NewDiscussion, Outgoing, Store
from fedi_forum.store.keyring import Keyring
from fedi_forum.store.primitives import Sharer

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_SUMMARY = 500

DEMO_SLUG = "welkom"
DEMO_TITLE = "Welkom bij fedi-forum"
DEMO_BODY = """\
Dit is een voorbeelddiscussie. Volg @{slug}@{domain} vanaf Mastodon of een andere \
fediverse-server en reageer op dit bericht om mee te doen.

This is a demo discussion. Follow @{slug}@{domain} from Mastodon or any other fediverse \
server and reply to this post to take part."""


# Followers see in the group's profile what following it brings (the announce switch).
SHARING_NOTE = {
    ("nl", True): "Volg deze discussie om elke reactie te zien.",
    ("nl", False): "Volg deze discussie voor haar eigen berichten; reacties staan op de pagina.",
    ("en", True): "Follow this discussion to see every reply.",
    ("en", False): "Follow this discussion for its own posts; replies are on its page.",
}


STARTED_BY = {"nl": "Gestart door", "en": "Started by"}


@dataclasses.dataclass(frozen=True, slots=True)
class StartedBy:
    """The fediverse author whose post started a discussion (docs/categories.md)."""

    actor_id: str
    handle: str  # @user@host
    profile_url: str
    content_html: str  # their post's text, sanitised, title line left out

    def intro(self, lang: str) -> str:
        """The opening post's first line: who started it, as a mention (an h-card
        link, as Mastodon writes them), which their server notifies them of."""
        link = content.mention_link(self.profile_url, self.handle)
        return f"<p>{STARTED_BY.get(lang, STARTED_BY['en'])} {link}</p>"


async def free_slug(
    store: Store, title: str, *, fallback: str, skip: Set[str] = frozenset()
) -> str:
    """A slug for ``title`` that no actor has yet (nor one in ``skip``): ASCII words
    joined by ``_``, with ``_2``, ``_3`` … on a collision."""
    base = our_slug(title) or fallback
    for n in range(1, 10_000):
        slug = base if n == 1 else f"{base[: 29 - len(str(n))]}_{n}"
        if not SLUG_RE.fullmatch(slug) or slug in RESERVED_SLUGS or slug in skip:
            continue
        if not await store.name_taken(slug):
            return slug
    raise Conflict(f"no free name for {title!r}")


def normalise_slug(raw: str) -> str:
    """Slugs are matched case-insensitively and stored lower-case (docs/rules.md §3)."""
    slug = raw.strip().lower()
    if not SLUG_RE.fullmatch(slug):
        raise InvalidSlug(f"bad slug {raw!r}", public_message="name must be 1-30 of a-z 0-9 _")
    if slug in RESERVED_SLUGS:
        raise InvalidSlug(f"reserved slug {raw!r}", public_message="that name is reserved")
    return slug


def group_key_name(slug: str) -> str:
    return f"group-{slug}"


class Discussions:
    def __init__(self, settings: Settings, store: Store, keyring: Keyring) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.urls = Urls(settings.base_url)

    async def create(
        self,
        *,
        slug: str,
        title: str,
        body: str,
        lang: str,
        summary: str = "",
        category: str | None = None,
        started_by: StartedBy | None = None,
        author: str | None = None,
    ) -> Discussion:
        """A new discussion (and its Group actor), filed under ``category`` if given;
        the category's and the forum-wide actor's followers get its opening post as
        their boost (docs/categories.md). ``started_by``: a fediverse post started it
        (its text is the opening post; ``body`` its plain text, for later edits).
        ``author``: the staff member who opens it, named as the opening post's author
        (without one the group is: forum servers then do not take the post,
        docs/rules.md §18)."""
        slug = normalise_slug(slug)
        title = " ".join(title.split())
        if not 1 <= len(title) <= MAX_TITLE:
            raise InvalidInput("bad title", public_message=f"title must be 1-{MAX_TITLE} chars")
        if not body.strip() or len(body) > MAX_BODY:
            raise InvalidInput("bad body", public_message=f"text must be 1-{MAX_BODY} chars")
        if len(summary) > MAX_SUMMARY:
            raise InvalidInput("bad summary", public_message="summary too long")
        if lang not in LANGUAGES:
            raise InvalidInput("bad lang", public_message=f"language must be one of {LANGUAGES}")
        category_id = audience = None
        if category:
            found = await self.store.category(normalise_slug(category))
            if found is None or found.is_forum:
                raise NotFound(f"no category {category!r}")
            category_id, audience = found.id, self.urls.category(found.slug)
        author_id = None
        if author is not None:
            member = await self.store.staff(author)
            if member is None:
                who = f"no staff member {author!r}"
                raise NotFound(who, public_message=who)
            await self.keyring.load_or_create(staff_key_name(member.username))  # its key
            author_id = self.urls.staff(member.username)
        announced_by = await self.store.announcing_categories(category_id)
        taken = await self.store.discussion(slug) or await self.store.category(slug)
        if taken is not None or await self.store.staff(slug):
            # Checked again by the UNIQUE constraint; this avoids making a key for nothing.
            # Staff are actors in the same namespace (@name@host).
            raise Conflict("taken", public_message="that name is already taken")

        private_key = await self.keyring.load_or_create(group_key_name(slug))
        now = utcnow()
        note = self._opening_note(
            slug,
            title,
            body,
            lang,
            published=now,
            updated=None,
            started_by=started_by,
            author=author_id,
            audience=audience,
        )
        group_id = self.urls.group(slug)
        activity = vocab.create(self.urls.note_activity(slug, 0), note["attributedTo"], note)
        discussion = await self.store.create_discussion(
            NewDiscussion(
                slug=slug,
                title=title,
                summary=summary.strip(),
                lang=lang,
                public_key_pem=keys.public_pem(private_key),
                group_id=group_id,
                opening_ap_id=note["id"],
                opening_content=note["content"],
                opening_raw=orjson.dumps(note).decode(),
                create_activity_id=activity["id"],
                create_payload=orjson.dumps(activity).decode(),
                now=now,
                category_id=category_id,
                announces=category_announces(self.urls, announced_by, note["id"], activity, now),
            )
        )
        log.info("created discussion %s", slug)
        return discussion

    async def set_state(self, slug: str, state: DiscussionState) -> Discussion:
        slug = normalise_slug(slug)
        farewell = None
        if state is DiscussionState.DELETED:
            group = self.urls.group(slug)
            activity_id = self.urls.group_delete(slug, utcnow())
            payload = vocab.delete_actor(activity_id, group, self.urls.followers(slug))
            farewell = Outgoing(activity_id, orjson.dumps(payload).decode(), group)
        discussion = await self.store.set_discussion_state(slug, state, utcnow(), farewell=farewell)
        if discussion is None:
            raise NotFound(f"no discussion {slug!r}")
        if discussion.state is not state:  # not a transition DISCUSSION_TRANSITIONS allows
            raise Conflict(
                f"{slug}: {discussion.state} → {state} refused",
                public_message=f"a {discussion.state} discussion cannot become {state}",
            )
        return discussion

    async def set_announce_replies(self, slug: str, on: bool) -> Discussion:
        """Share every reply with followers (default), or only the discussion's own posts."""
        return await self._switch(self.store.set_announce_replies, slug, on)

    async def _switch(
        self, change: Callable[[str, bool, str], Awaitable[Discussion | None]], slug: str, on: bool
    ) -> Discussion:
        """One of a discussion's on/off settings (``change``: the store's setter)."""
        discussion = await change(normalise_slug(slug), on, utcnow())
        if discussion is None:
            raise NotFound(f"no discussion {slug!r}")
        return discussion

    async def ensure_demo(self) -> Discussion:
        """The demo discussion of a fresh instance (``make run``); created once."""
        existing = await self.store.discussion(DEMO_SLUG)
        if existing is not None:
            return existing
        return await self.create(
            slug=DEMO_SLUG,
            title=DEMO_TITLE,
            body=DEMO_BODY.format(slug=DEMO_SLUG, domain=self.settings.domain),
            lang="nl",
        )

    def _opening_note(
        self,
        slug: str,
        title: str,
        body: str,
        lang: str,
        *,
        published: str,
        updated: str | None,
        started_by: StartedBy | None = None,
        author: str | None = None,
        audience: str | None = None,
    ) -> NoteDoc:
        """The opening post from what the facilitator typed (plain text, kept as its
        ``source`` for the next edit), or from the post that started it; ``author`` and
        ``audience`` as ``vocab.opening_note`` takes them."""
        return vocab.opening_note(
            self.urls,
            slug=slug,
            domain=self.settings.domain,
            title=title,
            content_html=content.plain_text_to_html(body)
            if started_by is None
            else started_by.intro(lang) + started_by.content_html,
            lang=lang,
            published=published,
            updated=updated,
            source_text=body,
            started_by=None if started_by is None else (started_by.actor_id, started_by.handle),
            author=author,
            audience=audience,
        )

    def group_document(self, d: Discussion) -> Actor:
        """The discussion as a Group actor (served at its URL, sent in Update{Group})."""
        sharing = SHARING_NOTE[(d.lang if d.lang in LANGUAGES else "en", d.announce_replies)]
        summary = f"{d.summary}\n\n{sharing}" if d.summary else sharing
        return actors.group_actor(
            self.urls,
            slug=d.slug,
            domain=self.settings.domain,
            title=d.title,
            summary_html=content.plain_text_to_html(summary),
            public_key_pem=d.public_key_pem,
            published=d.created_at,
            updated=d.updated_at,
            restricted=d.state is not DiscussionState.OPEN,
            icon_url=self.urls.group_image(d.slug, "icon", d.icon_at)
            if d.icon_at
            else self.urls.static("group-icon.png"),
            header_url=self.urls.group_image(d.slug, "header", d.header_at)
            if d.header_at
            else None,
        )

    async def set_image(self, slug: str, kind: str, upload: bytes) -> Discussion:
        """A discussion's own avatar or header from an upload: decoded (images only, at
        most MAX_PIXELS), fitted (an icon in 400 × 400 as PNG, a header in 1500 × 500 as
        JPEG) and encoded afresh, so nothing of the upload but its pixels is kept (no
        EXIF: location, camera). Followers get ``Update{Group}``."""
        if kind not in IMAGE_SIZES:
            raise NotFound(f"no image kind {kind!r}")
        media_type, data = await asyncio.to_thread(reencode, upload, kind)
        slug = normalise_slug(slug)
        now = utcnow()
        group = self.urls.group(slug)

        def update(d: Discussion) -> Outgoing:
            activity = vocab.update(self.urls.update(group, now), group, self.group_document(d))
            return Outgoing(activity["id"], orjson.dumps(activity).decode(), group)

        changed = await self.store.set_discussion_image(slug, kind, media_type, data, now, update)
        if changed is None:
            raise NotFound(f"no discussion {slug!r}")
        return changed

    async def edit(
        self,
        slug: str,
        *,
        title: str | None = None,
        body: str | None = None,
        summary: str | None = None,
    ) -> Discussion:
        """Edit the title, opening text or summary, queued in the same transaction as
        the change: the discussion's followers get ``Update{Group}`` and the post's
        ``Update`` (with ``updated``), from the group when the group wrote it, else its
        author's Update inside the group's Announce (FEP-1b12; Mastodon drops Updates
        of Articles, docs/rules.md §17, so microblog servers get none); followers of
        the categories that boosted the post get that Announce from the category."""
        slug = normalise_slug(slug)
        d = await self.store.discussion(slug)
        if d is None or d.is_deleted:
            raise NotFound(f"no discussion {slug!r}")
        raw = await self.store.note_raw(d.id, 0)
        old = orjson.loads(raw) if raw else {}
        title = " ".join(title.split()) if title is not None else d.title
        old_source = old.get("source")
        source = str(old_source.get("content", "")) if isinstance(old_source, dict) else ""
        body = body if body is not None else source
        if not 1 <= len(title) <= MAX_TITLE or not body.strip() or len(body) > MAX_BODY:
            raise InvalidInput("bad edit", public_message="title and text are required")
        summary = (summary if summary is not None else d.summary).strip()
        if len(summary) > MAX_SUMMARY:
            raise InvalidInput("bad summary", public_message="summary too long")
        now = utcnow()
        published = old.get("published", d.created_at)
        group = self.urls.group(slug)
        author = str(old.get("attributedTo") or group)  # who wrote it stays who wrote it
        announcing = await self.store.announcing_categories(d.category_id)
        category = next((c for c in announcing if c.id == d.category_id), None)
        note = self._opening_note(
            slug,
            title,
            body,
            d.lang,
            published=published,
            updated=now,
            author=None if author == group else author,
            audience=None if category is None else self.urls.category(category.slug),
        )
        edited = dataclasses.replace(d, title=title, summary=summary, updated_at=now)
        update = vocab.update(self.urls.update(note["id"], now), author, note)
        group_update = vocab.update(
            self.urls.update(group, now), group, self.group_document(edited)
        )
        passed = passed_on(self.urls, update, "update")
        create_id = self.urls.note_activity(slug, 0)
        outgoing = [
            Outgoing(update["id"], orjson.dumps(update).decode(), group)
            if author == group
            else passed(Sharer(slug, 0, create_id), note["id"]),
            Outgoing(group_update["id"], orjson.dumps(group_update).decode(), group),
        ]
        boosted = [
            (c.id, passed(Sharer(slug, 0, None, category=c.slug), note["id"])) for c in announcing
        ]
        updated = await self.store.edit_discussion(
            slug,
            title=title,
            summary=summary,
            content=note["content"],
            raw=orjson.dumps(note).decode(),
            create=self._outbox_create(slug, note),
            now=now,
            outgoing=outgoing,
            category_outgoing=boosted,
        )
        if updated is None:
            raise NotFound(f"no discussion {slug!r}")
        return updated

    async def republish_openings(self) -> int:
        """Opening posts still stored as the ``Note`` of earlier versions become the
        ``Article`` they are now (docs/rules.md §17), and followers of a discussion that
        published one get ``Update{Article}``: forum servers then show its title once
        (Mastodon drops the Update and keeps the status it has). Run at ``serve``
        start; a no-op once done, and safe with several processes starting at once.
        Returns how many were republished."""
        done = 0
        for slug, title, raw in await self.store.opening_notes():
            old = orjson.loads(raw)
            if old.get("type") != "Note" or not isinstance(old.get("contentMap"), dict):
                continue
            article = vocab.as_article(old, title)
            now = utcnow()
            group = self.urls.group(slug)
            # An imported opening post (a member's) was never sent: nothing to update.
            sent = old.get("attributedTo") == group
            update = vocab.update(self.urls.update(article["id"], now), group, article)
            if await self.store.republish_opening(
                slug,
                old_raw=raw,
                content=article["content"],
                raw=orjson.dumps(article).decode(),
                create=self._outbox_create(slug, article),
                outgoing=[Outgoing(update["id"], orjson.dumps(update).decode(), group)]
                if sent
                else [],
                now=now,
            ):
                done += 1
        if done:
            log.info("republished %d opening posts as Articles", done)
        return done

    async def _audience(self, d: Discussion) -> str | None:
        """The ``audience`` of what we write in ``d``: its category, the community
        group servers file it under (docs/rules.md §18); None: the group itself."""
        if d.category_id is None:
            return None
        category = await self.store.category_by_id(d.category_id)
        return None if category is None else self.urls.category(category.slug)

    def _outbox_create(self, slug: str, note: NoteDoc) -> Outgoing:
        """The outbox's ``Create`` of the opening post, carrying it as it is now (by its
        author, as group servers require of a Create)."""
        create = vocab.create(self.urls.note_activity(slug, 0), note["attributedTo"], note)
        return Outgoing(create["id"], orjson.dumps(create).decode(), create["actor"])

    async def staff_reply(
        self,
        slug: str,
        *,
        username: str,
        text: str,
        in_reply_to_seq: int = 0,
        official: bool = False,
    ) -> int:
        """A reply by a staff member (a local Person actor): stored as the next ordered
        note and announced by the group like any reply; it may be the official answer.
        Staff may reply in locked and closed discussions, and are never held."""
        slug = normalise_slug(slug)
        d = await self.store.discussion(slug)
        if d is None or d.is_deleted:
            raise NotFound(f"no discussion {slug!r}")
        if not text.strip() or len(text) > MAX_BODY:
            raise InvalidInput("bad reply", public_message=f"text must be 1-{MAX_BODY} chars")
        parent = await self.store.note(d.id, in_reply_to_seq)
        if parent is None:
            raise NotFound(f"no message {in_reply_to_seq}")
        await self.keyring.load_or_create(staff_key_name(username))  # the actor's key exists
        now = utcnow()
        note_id = self.urls.staff_note(username, secrets.token_hex(8))
        html = content.plain_text_to_html(text)
        # The person answered is mentioned (their server notifies them) and gets the
        # group's Announce; Mastodon accepts it because they are addressed (cc).
        answered = None if parent.is_local else await self.store.actor(parent.author.actor_id)
        shared = html
        if answered is not None:
            profile = answered.url if (answered.url or "").startswith("https://") else answered.id
            shared = content.with_leading_mention(
                html, profile or answered.id, _handle_of(answered)
            )
        if official:  # other servers see it too, in words (our page shows a badge)
            label = OFFICIAL[d.lang if d.lang in OFFICIAL else "en"]
            shared = f"<p><strong>{label}</strong></p>{shared}"
        note = vocab.staff_note(
            self.urls,
            note_id=note_id,
            username=username,
            slug=slug,
            domain=self.settings.domain,
            content_html=shared,
            lang=d.lang,
            published=now,
            in_reply_to=parent.ap_id,
            audience=await self._audience(d),
        )
        if answered is not None:
            mention = {"type": "Mention", "href": answered.id, "name": _handle_of(answered)}
            note["tag"].append(mention)
            note["cc"].append(answered.id)
        staff_id = self.urls.staff(username)
        create = vocab.create(f"{note_id}/activity", staff_id, note)
        answered_id = answered.id if answered is not None else None

        def announce(seq: int) -> Outgoing:
            return group_announce(
                self.urls,
                slug,
                seq,
                note_id=note_id,
                author=answered_id,
                published=now,
                create=create,
            )

        result = await self.store.accept_reply(
            activity_id=create["id"],
            actor_id=staff_id,
            slug=slug,
            notes=[
                NewNote(
                    ap_id=note_id,
                    activity_id=create["id"],
                    author_id=staff_id,
                    in_reply_to=parent.ap_id,
                    content=html,
                    summary=None,
                    sensitive=False,
                    lang=d.lang,
                    url=None,
                    visibility="public",
                    published=now,
                    updated=None,
                    raw=orjson.dumps(note).decode(),
                    accepted_at=now,
                    is_local=True,
                    official=official,
                )
            ],
            authors=[],
            announce=announce,
            announce_to_author=answered.shared_inbox or answered.inbox if answered else None,
            now=now,
            as_staff=True,
            relay=category_relay(self.urls, author=None, published=now, create=create),
        )
        return result.seqs[-1]

    async def set_premoderate(self, slug: str, on: bool) -> Discussion:
        """Hold every new reply until a moderator approves it."""
        return await self._switch(self.store.set_premoderate, slug, on)

    async def set_pinned(self, slug: str, on: bool) -> Discussion:
        """Pin a discussion in its category (and the forum-wide actor's list): its
        opening post joins their ``featured`` collections, the category's page lists it
        first. Group servers read ``featured`` when they refresh the Group."""
        return await self._switch(self.store.set_pinned, slug, on)

    def handle(self, discussion: Discussion) -> str:
        return f"@{discussion.slug}@{self.settings.domain}"


OFFICIAL = {"nl": "Officieel antwoord", "en": "Official answer"}


def _handle_of(actor: RemoteActor) -> str:
    """``@user@host`` of a remote actor, as a Mention names it."""
    return f"@{actor.preferred_username or 'user'}@{actor.host}"
