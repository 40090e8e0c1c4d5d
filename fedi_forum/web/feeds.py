"""RSS 2.0 and Atom feeds, per discussion and instance-wide: newest first, capped.

Built with an XML serializer (``xml.etree.ElementTree``), never by pasting HTML into a
template: message HTML is an escaped string inside ``<description>`` (RSS) and
``<content type="html">`` (Atom), as both formats define, so an ordinary ``<br>`` or
``&nbsp;`` from a Mastodon reply cannot break the document. Characters XML 1.0 forbids
(C0 controls, lone surrogates, U+FFFE/FFFF) are dropped from every text first:
remote content is attacker-controlled and a single one makes the whole feed unreadable.

Conditional GET: a weak ``ETag`` of the body and ``Last-Modified`` of the newest entry;
``If-None-Match`` answers 304.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET  # building XML only; nothing is parsed with it
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.activitypub.content import without_leading_mention, without_title
from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.models import Discussion, Note, parse_time, utcnow
from fedi_forum.web import activitypub as ap
from fedi_forum.web.pages import choose_language, display_author, local_authors_of
from fedi_forum.web.state import Services, require_discussion, services

FEED_SIZE = 50
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry at all."""
    return _NOT_XML.sub("", value)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    link: str
    author: str
    author_uri: str | None
    html: str
    published: str
    updated: str


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    title: str
    description: str
    link: str
    self_url: str
    lang: str
    entries: Sequence[Entry]

    @property
    def updated(self) -> str:
        return self.entries[0].updated if self.entries else utcnow()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def _rfc822(value: str) -> str:
    return format_datetime(parse_time(value), usegmt=True)


def rss(feed: Feed) -> bytes:
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", feed.title)
    _sub(channel, "link", feed.link)
    _sub(channel, "description", feed.description)
    _sub(channel, "language", feed.lang)
    _sub(channel, f"{{{ATOM_NS}}}link", href=feed.self_url, rel="self", type=MEDIA_TYPES["rss"])
    _sub(channel, "generator", "fedi-forum")
    if feed.entries:
        _sub(channel, "lastBuildDate", _rfc822(feed.updated))
    for e in feed.entries:
        item = _sub(channel, "item")
        _sub(item, "title", e.title)
        _sub(item, "link", e.link)
        _sub(item, "guid", e.id, isPermaLink="false")
        _sub(item, "pubDate", _rfc822(e.published))
        _sub(item, f"{{{DC_NS}}}creator", e.author)
        _sub(item, "description", e.html)  # escaped HTML, as RSS 2.0 defines it
    return _serialise(root)


def atom(feed: Feed) -> bytes:
    root = ET.Element(
        f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": xml_text(feed.lang)}
    )
    a = f"{{{ATOM_NS}}}"
    _sub(root, a + "id", feed.id)
    _sub(root, a + "title", feed.title)
    _sub(root, a + "subtitle", feed.description)
    _sub(root, a + "link", rel="alternate", type="text/html", href=feed.link)
    _sub(root, a + "link", rel="self", type=MEDIA_TYPES["atom"], href=feed.self_url)
    _sub(root, a + "updated", feed.updated)
    _sub(root, a + "generator", "fedi-forum")
    for e in feed.entries:
        entry = _sub(root, a + "entry")
        _sub(entry, a + "id", e.id)
        _sub(entry, a + "title", e.title)
        _sub(entry, a + "link", rel="alternate", type="text/html", href=e.link)
        _sub(entry, a + "published", e.published)
        _sub(entry, a + "updated", e.updated)
        author = _sub(entry, a + "author")
        _sub(author, a + "name", e.author)
        if e.author_uri:
            _sub(author, a + "uri", e.author_uri)
        _sub(entry, a + "content", e.html, type="html")
    return _serialise(root)


def _serialise(root: ET.Element) -> bytes:
    ET.register_namespace("atom", ATOM_NS)
    ET.register_namespace("dc", DC_NS)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


async def entries(
    svc: Services, rows: list[tuple[Discussion, Note]], official: str, lang: str
) -> list[Entry]:
    out = []
    local = await local_authors_of(svc, (note for _, note in rows))
    for d, note in rows:
        author = display_author(svc, d, note, local, lang)
        who = author.name or author.handle or author.actor_id
        title = d.title if note.seq == 0 else f"#{note.seq} {who} – {d.title}"
        if note.official:
            title = f"{official}: {title}"
        uri = (
            author.profile_url
            if author.profile_url and author.profile_url.startswith(("https://", "http://"))
            else None
        )
        out.append(
            Entry(
                id=note.ap_id,
                title=title,
                link=ap.page_url_for(svc, d, note.seq),
                author=who,
                author_uri=uri,
                html=clean_html(_shown(svc, d, note)),
                published=note.published,
                updated=note.updated or note.published,
            )
        )
    return out


def _shown(svc: Services, d: Discussion, note: Note) -> str:
    """A message as a feed entry shows it: the opening post without the title (the
    entry's title), a reply without the "@discussion" it opens with."""
    if note.seq == 0:
        return without_title(note.content, d.title)
    if note.is_local:
        return note.content
    return without_leading_mention(note.content, svc.urls.group(d.slug))


def respond(request: Request, kind: str, feed: Feed) -> Response:
    body = rss(feed) if kind == "rss" else atom(feed)
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Last-Modified": _rfc822(feed.updated),
        "Cache-Control": "public, max-age=60",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=f"{MEDIA_TYPES[kind]}; charset=utf-8", headers=headers)


async def discussion_feed(request: Request) -> Response:
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    kind = request.path_params["kind"]  # rss | atom: the route's convertor
    rows = await svc.store.latest_notes(FEED_SIZE, discussion_id=d.id)
    official = svc.renderer.gettext(d.lang, "Official answer")
    feed = Feed(
        id=svc.urls.group(d.slug),
        title=d.title,
        description=d.summary or d.title,
        link=svc.urls.group(d.slug),
        self_url=svc.urls.feed_rss(d.slug) if kind == "rss" else svc.urls.feed_atom(d.slug),
        lang=d.lang,
        entries=await entries(svc, rows, official, d.lang),
    )
    return respond(request, kind, feed)


async def instance_feed(request: Request) -> Response:
    svc = services(request)
    kind = request.path_params["kind"]
    rows = await svc.store.latest_notes(FEED_SIZE)
    lang = choose_language(request, svc.settings.default_lang)
    feed = Feed(
        id=svc.urls.base + "/",
        title=svc.settings.instance_name,
        description=svc.settings.instance_name,
        link=svc.urls.base + "/",
        self_url=svc.urls.instance_feed_rss if kind == "rss" else svc.urls.instance_feed_atom,
        lang=lang,
        entries=await entries(svc, rows, svc.renderer.gettext(lang, "Official answer"), lang),
    )
    return respond(request, kind, feed)
