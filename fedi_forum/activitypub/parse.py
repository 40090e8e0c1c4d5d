"""Reading incoming ActivityPub JSON into typed values. Pure.

Everything here is attacker-controlled. Any field may be a string, an object with an
``id``, an array of either, or absent; ``type`` may be an array (docs/rules.md
§10). Required fields of the wrong shape raise ``InvalidActivity`` (400); optional ones
of the wrong shape are treated as absent, as Mastodon does. ``dict[str, Any]`` lives
only here and in ``vocab``: callers get frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson

from fedi_forum.activitypub.shapes import AS_NS, PUBLIC
from fedi_forum.errors import InvalidActivity
from fedi_forum.models import RemoteActor, format_time, read_time

ACTOR_TYPES = frozenset({"Application", "Group", "Organization", "Person", "Service"})
NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Video", "Audio", "Image"})
PUBLIC_FORMS = frozenset({PUBLIC, "as:Public", "Public"})

MAX_URL = 2048
MAX_ADDRESSES = 500  # to/cc entries read; more is a flood, not an audience
MAX_TEXT = 500  # names, summaries (plain text)
MAX_ITEMS = 50  # tags, attachments


def loads(body: bytes) -> dict[str, Any]:
    """Strict JSON (orjson rejects NaN and >1024-deep nesting) that must be an object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidActivity(f"malformed JSON: {exc}", public_message="malformed JSON") from exc
    if not isinstance(doc, dict):
        raise InvalidActivity("JSON is not an object")
    return doc


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > MAX_URL:
        return False
    return _is_http_url(value)


@functools.lru_cache(maxsize=8192)
def _is_http_url(value: str) -> bool:
    # cached: the same actor, followers and discussion URLs recur in every activity
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@functools.lru_cache(maxsize=8192)
def host_of(url: str) -> str:
    """The origin's host with a non-default port (``host`` or ``host:port``), lower-cased.

    Origin checks compare this, which is stricter than Mastodon's host-only comparison:
    two servers on one host but different ports are different origins.
    """
    return urlsplit(url).netloc.rpartition("@")[2].lower()


def strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def id_of(value: object) -> str | None:
    """``"https://…"`` or ``{"id": "https://…"}`` → the URL; anything else → None."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and is_http_url(value) else None


def ids_of(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items[:MAX_ADDRESSES]:
        url = id_of(item)
        if url is None and isinstance(item, str) and item in PUBLIC_FORMS:
            url = PUBLIC
        if url is not None:
            found.append(url)
    return tuple(found)


def types_of(doc: dict[str, Any]) -> frozenset[str]:
    value = doc.get("type")
    items = value if isinstance(value, list) else [value]
    return frozenset(t for t in items[:8] if isinstance(t, str))


def _text(value: object, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else None


# Attacker-controlled names can reorder what is shown after them (bidi overrides: "‮moc.
# knab" shows as "bank.com") or hide inside a look-alike ("ad​min"). These are dropped
# from display names; the templates also isolate every name (<bdi>). A zero-width joiner
# is kept only between emoji, where it builds one glyph (👩‍💻).
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\ufe0f"
_SPOOFING = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u200c\u2060\ufeff\u00ad]"
    f"|(?<![{_EMOJI}])\u200d|\u200d(?![{_EMOJI}])"
)


def display_name(value: object, limit: int = 100) -> str | None:
    """A remote display name without bidi controls and invisible characters."""
    text = _text(value, limit * 2)
    if text is None:
        return None
    return _SPOOFING.sub("", text).strip()[:limit] or None


def _time(value: object) -> str | None:
    """ISO 8601 → our canonical UTC form; unparseable, or outside the years any page
    can show (attacker-controlled: ``read_time``) → None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    moment = read_time(value)
    return None if moment is None else format_time(moment)


@dataclasses.dataclass(frozen=True, slots=True)
class Activity:
    id: str
    type: str
    actor: str
    object: Any  # str | dict | list: read with object_id / object_doc
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: tuple[str, ...]
    raw: dict[str, Any]

    @property
    def object_id(self) -> str | None:
        return id_of(self.object)

    @property
    def object_doc(self) -> dict[str, Any] | None:
        return self.object if isinstance(self.object, dict) else None

    @property
    def object_type(self) -> str | None:
        doc = self.object_doc
        if doc is None:
            return None
        types = types_of(doc)
        return min(types) if types else None


def parse_activity(doc: dict[str, Any]) -> Activity:
    types = types_of(doc)
    if not types:
        raise InvalidActivity("activity without a type")
    activity_id = id_of(doc.get("id"))
    if activity_id is None:
        raise InvalidActivity("activity without an http(s) id")
    actor = id_of(doc.get("actor"))
    if actor is None:
        raise InvalidActivity("activity without an actor")
    obj = doc.get("object")
    if obj is not None and not isinstance(obj, str | dict | list):
        raise InvalidActivity("object of the wrong type")
    return Activity(
        id=activity_id,
        type=min(types),
        actor=strip_fragment(actor),
        object=obj,
        to=ids_of(doc.get("to")),
        cc=ids_of(doc.get("cc")),
        audience=ids_of(doc.get("audience")),
        raw=doc,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    url: str
    media_type: str | None
    description: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class IncomingNote:
    """A Note-like object as received (content not yet sanitized)."""

    id: str
    type: str
    attributed_to: str | None
    content: str
    name: str | None
    summary: str | None
    sensitive: bool
    in_reply_to: str | None
    published: str | None
    updated: str | None
    url: str | None
    lang: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: tuple[str, ...]
    mentions: tuple[str, ...]
    context: str | None
    attachments: tuple[Attachment, ...]

    @property
    def visibility(self) -> str:
        """docs/rules.md §5: public, unlisted, or private/direct."""
        if PUBLIC in self.to:
            return "public"
        if PUBLIC in self.cc:
            return "unlisted"
        return "private"

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.to + self.cc + self.audience + self.mentions


def _first_url(value: object) -> str | None:
    """``url`` may be a string, a Link object, or an array of either."""
    items = value if isinstance(value, list) else [value]
    for item in items[:MAX_ITEMS]:
        if isinstance(item, dict):
            item = item.get("href")
        if is_http_url(item):
            return str(item)
    return None


def parse_note(doc: dict[str, Any], activity: Activity | None = None) -> IncomingNote:
    types = types_of(doc) & NOTE_TYPES
    if not types:
        raise InvalidActivity("object is not a note")
    note_id = id_of(doc.get("id"))
    if note_id is None:
        raise InvalidActivity("note without an http(s) id")
    content = doc.get("content")
    lang = None
    content_map = doc.get("contentMap")
    if isinstance(content_map, dict) and content_map:
        lang, mapped = next(iter(content_map.items()))
        if not isinstance(content, str):
            content = mapped
        lang = lang[:16] if isinstance(lang, str) else None
    if not isinstance(content, str):
        content = ""
    name = _text(doc.get("name"))
    if content == "" and name is None and not doc.get("attachment"):
        raise InvalidActivity("note without content")

    tags = doc.get("tag")
    mentions = []
    for tag in (tags if isinstance(tags, list) else [tags])[:MAX_ITEMS]:
        if isinstance(tag, dict) and tag.get("type") == "Mention" and is_http_url(tag.get("href")):
            mentions.append(str(tag["href"]))
    attachments = []
    raw_attachments = doc.get("attachment")
    for item in (raw_attachments if isinstance(raw_attachments, list) else [raw_attachments])[
        :MAX_ITEMS
    ]:
        if isinstance(item, dict):
            url = _first_url(item.get("url")) or _first_url(item.get("href"))
            if url:
                attachments.append(
                    Attachment(url, _text(item.get("mediaType"), 100), _text(item.get("name")))
                )
    # to/cc come from the object, falling back to the activity (Mastodon's StatusParser)
    to = ids_of(doc.get("to")) or (activity.to if activity else ())
    cc = ids_of(doc.get("cc")) or (activity.cc if activity else ())
    return IncomingNote(
        id=note_id,
        type=min(types),
        attributed_to=_attributed_to(doc.get("attributedTo")),
        content=content,
        name=name,
        summary=_text(doc.get("summary")) or None,
        sensitive=doc.get("sensitive") is True,
        in_reply_to=id_of(doc.get("inReplyTo")),
        published=_time(doc.get("published")),
        updated=_time(doc.get("updated")),
        url=_first_url(doc.get("url")),
        lang=lang,
        to=to,
        cc=cc,
        audience=ids_of(doc.get("audience")) or (activity.audience if activity else ()),
        mentions=tuple(mentions),
        context=id_of(doc.get("context")) or id_of(doc.get("conversation")),
        attachments=tuple(attachments),
    )


def _attributed_to(value: object) -> str | None:
    """The first actor among ``attributedTo`` (Peertube lists a channel and a person)."""
    items = value if isinstance(value, list) else [value]
    for item in items[:8]:
        if isinstance(item, dict) and types_of(item) and not types_of(item) & ACTOR_TYPES:
            continue
        url = id_of(item)
        if url:
            return strip_fragment(url)
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedActor:
    actor: RemoteActor
    key_id: str | None
    key_owner: str | None


def parse_actor(doc: dict[str, Any], fetched_at: str) -> ParsedActor:
    """An actor document, with the checks of Mastodon's FetchRemoteActorService
    (docs/rules.md §1, §3)."""
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if AS_NS not in contexts:
        raise InvalidActivity("actor without the ActivityStreams context")
    types = types_of(doc) & ACTOR_TYPES
    if not types:
        raise InvalidActivity("not an actor")
    actor_id = id_of(doc.get("id"))
    if actor_id is None:
        raise InvalidActivity("actor without an id")
    inbox = id_of(doc.get("inbox"))
    endpoints = doc.get("endpoints")
    shared = id_of(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
    shared = shared or id_of(doc.get("sharedInbox"))
    key = doc.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict)), None)
    key_id = pem = owner = None
    if isinstance(key, dict):
        key_id = key.get("id") if isinstance(key.get("id"), str) else None
        pem = key.get("publicKeyPem") if isinstance(key.get("publicKeyPem"), str) else None
        owner = id_of(key.get("owner"))
    elif isinstance(key, str):
        key_id = key
    icon = doc.get("icon")
    if isinstance(icon, list):
        icon = icon[0] if icon else None
    icon_url = _first_url(icon.get("url")) if isinstance(icon, dict) else _first_url(icon)
    url = _first_url(doc.get("url"))
    if url and host_of(url) != host_of(actor_id):  # Mastodon: url only from the same host
        url = None
    username = display_name(doc.get("preferredUsername"))
    return ParsedActor(
        actor=RemoteActor(
            id=actor_id,
            host=host_of(actor_id),
            type=min(types),
            preferred_username=username,
            name=display_name(doc.get("name")),
            url=url,
            icon_url=icon_url,
            inbox=inbox,
            shared_inbox=shared,
            key_id=key_id,
            public_key_pem=pem,
            fetched_at=fetched_at,
            raw=orjson.dumps(doc).decode(),
        ),
        key_id=key_id,
        key_owner=owner,
    )


def attachments_html(attachments: Iterable[Attachment]) -> str:
    """Attachments as links with their alt text; an image's link is marked ``u-photo``
    (a microformats class the sanitiser keeps), so pages show it inline through our
    media proxy (``content.inline_images``) while feeds and other servers get a link."""
    parts = []
    for item in attachments:
        label = item.description or item.url.rsplit("/", 1)[-1] or item.url
        photo = ' class="u-photo"' if (item.media_type or "").startswith("image/") else ""
        parts.append(f'<p><a href="{html.escape(item.url)}"{photo}>{html.escape(label)}</a></p>')
    return "".join(parts)
