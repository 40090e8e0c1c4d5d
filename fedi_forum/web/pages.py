"""HTML pages for people: the discussion list, a discussion, about and terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fedi_forum.activitypub import content
from fedi_forum.activitypub.urls import LocalKind
from fedi_forum.config import LANGUAGES
from fedi_forum.errors import NotAcceptable, NotFound
from fedi_forum.forum.members import member_name
from fedi_forum.models import (
    Author,
    Discussion,
    Note,
    RemoteGroupState,
    discussion_fields_except,
)
from fedi_forum.store.imports import MemberRow
from fedi_forum.web import activitypub as ap
from fedi_forum.web.i18n import NO_REACTIONS
from fedi_forum.web.negotiation import preferred_language, preferred_representation
from fedi_forum.web.pagination import HTML_PAGE_SIZE, cursor, place_of
from fedi_forum.web.state import Services, client_address, require_discussion, services

PAGE_SIZE = HTML_PAGE_SIZE


def choose_language(request: Request, default: str) -> str:
    """``?lang=`` first, then Accept-Language, then the instance default."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    return preferred_language(request.headers.get("accept-language"), default)


def language_links(request: Request) -> dict[str, str]:
    links = {}
    for lang in LANGUAGES:
        params = {k: v for k, v in request.query_params.items() if k != "lang"}
        params["lang"] = lang
        links[lang] = f"{request.url.path}?{urlencode(params)}"
    return links


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    svc = services(request)
    lang = choose_language(request, svc.settings.default_lang)
    # No cookies: a language picked with ?lang= is kept by carrying it in our links.
    explicit = request.query_params.get("lang") in LANGUAGES
    body = svc.renderer.render(
        lang,
        template,
        urls=svc.urls,
        settings=svc.settings,
        language_links=language_links(request),
        lang_q=f"?lang={lang}" if explicit else "",
        lang_amp=f"&lang={lang}" if explicit else "",
        **context,
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={"Content-Language": lang, "Vary": "Accept, Accept-Language"},
    )


@dataclasses.dataclass(frozen=True, slots=True)
class LocalAuthors:
    """Our own people among some notes' authors: imported members (docs/ning.md) by
    handle, staff display names by user name."""

    members: Mapping[str, MemberRow]
    staff: Mapping[str, str]


async def local_authors_of(svc: Services, notes: Iterable[Note]) -> LocalAuthors:
    """The local authors of ``notes``, in one read per kind present."""
    handles, usernames = set(), set()
    for note in notes:
        ref = svc.urls.parse(note.author.actor_id) if note.is_local else None
        if ref is not None and ref.kind is LocalKind.MEMBER:
            handles.add(ref.username)
        elif ref is not None and ref.kind is LocalKind.STAFF:
            usernames.add(ref.username)
    return LocalAuthors(
        await svc.store.members_by_handle(sorted(handles)),
        await svc.store.staff_names(sorted(usernames)),
    )


def display_author(
    svc: Services, d: Discussion, note: Note, local: LocalAuthors, lang: str
) -> Author:
    """Local notes are the group's own, a staff member's or an imported author's (from
    ``local_authors_of``); remote ones come from the actor cache."""
    ref = svc.urls.parse(note.author.actor_id) if note.is_local else None
    if ref is not None and ref.kind is LocalKind.MEMBER:
        member = local.members.get(ref.username)
        return Author(
            actor_id=note.author.actor_id,
            name=member_name(member, lang) if member else "",
            handle=f"@{ref.username}@{svc.settings.domain}",
            profile_url="",  # a read-only account: no profile to visit
            avatar_url="",
        )
    if ref is not None and ref.kind is LocalKind.STAFF:
        username = ref.username
        return Author(
            actor_id=note.author.actor_id,
            name=local.staff.get(username) or username,
            handle=f"@{username}@{svc.settings.domain}",
            profile_url=svc.urls.about,
            avatar_url=svc.urls.static("group-icon.png"),
        )
    if note.is_local:
        return Author(
            actor_id=svc.urls.group(d.slug),
            name=d.title,
            handle=f"@{d.slug}@{svc.settings.domain}",
            profile_url=svc.urls.group(d.slug),
            avatar_url=group_icon(svc, d),
        )
    return note.author


def page_numbers(current: int, count: int) -> list[tuple[int, str] | None]:
    """The page links a long discussion shows: the first, the last, and two either side
    of the current one, with a gap (None) where pages are left out; each is (its number,
    its ``?after=`` query)."""
    wanted = {1, count, *range(current - 2, current + 3)}
    shown: list[tuple[int, str] | None] = []
    for n in sorted(w for w in wanted if 1 <= w <= count):
        if shown and shown[-1] is not None and n > shown[-1][0] + 1:
            shown.append(None)
        shown.append((n, f"?after={(n - 1) * PAGE_SIZE}"))
    return shown


def group_icon(svc: Services, d: Discussion) -> str:
    """The discussion's own avatar, else the instance's."""
    if d.icon_at:
        return svc.urls.group_image(d.slug, "icon", d.icon_at)
    return svc.urls.static("group-icon.png")


NEWEST_PER_CATEGORY = 3  # discussions named under each category on the index


async def index(request: Request) -> Response:
    svc = services(request)
    rows = await svc.store.discussions()
    items = [
        {
            "discussion": d,
            "excerpt": content.excerpt(content.without_title(opening.content, d.title), 240),
        }
        for d, opening in rows
    ]
    followed = await svc.store.remote_groups(RemoteGroupState.ACCEPTED)
    categories = await svc.store.categories()
    newest = await svc.store.newest_by_category(NEWEST_PER_CATEGORY) if categories else {}
    return render(
        request,
        "index.html",
        items=items,
        followed=followed,
        categories=categories,
        newest=newest,
    )


async def remote_discussion(request: Request) -> Response:
    """``/r/{slug@host}``: a discussion we follow on another server, in its order."""
    svc = services(request)
    group = await svc.store.remote_group_by_handle(request.path_params["handle"])
    if group is None:
        raise NotFound("not a discussion we follow")
    after = cursor(request.query_params, "after")
    first = 0 if after is None else after + 1
    notes = await svc.store.remote_notes_page(group.id, first, first + PAGE_SIZE)
    shown, more = notes[:PAGE_SIZE], len(notes) > PAGE_SIZE
    lang = choose_language(request, svc.settings.default_lang)
    # fragments rendered with autoescape on: joining them is safe
    items = (f"<li>{svc.renderer.message(lang, n, n.author, '')}</li>\n" for n in shown)
    messages = Markup("".join(items))  # noqa: S704
    pages = {
        "prev": None if first == 0 else f"?after={max(first - PAGE_SIZE, 0) - 1}",
        "next": f"?after={shown[-1].seq}" if more else None,
    }
    if pages["prev"] == "?after=-1":
        pages["prev"] = "?"
    return render(
        request,
        "remote.html",
        group=group,
        summary=content.html_to_text(group.summary)[:500],
        messages_html=messages,
        pages=pages,
    )


async def discussion(request: Request) -> Response:
    """``/d/{slug}``: the Group actor for AS2 clients, the forum page for everyone else."""
    svc = services(request)
    wanted = preferred_representation(request.headers.get("accept"))
    if wanted == "as2":
        return await ap.group_actor(request, svc)
    if wanted is None:
        raise NotAcceptable("neither HTML nor AS2 acceptable")
    d = await require_discussion(svc, request.path_params["slug"])
    after = cursor(request.query_params, "after") or 0
    if after and after >= d.last_seq:
        raise NotFound(f"page after {after} beyond {d.last_seq}")
    client = client_address(request)
    svc.views.record(d.id, client, request.headers.get("user-agent", ""))
    lang = choose_language(request, svc.settings.default_lang)
    explicit = request.query_params.get("lang") in LANGUAGES
    # The whole page is cached: its key holds everything it shows except the view count
    # (the discussion value minus views, whose `revision` changes with any note, the
    # page, the language); the count is put in at the end. A hit costs one small read.
    staff = request.cookies.get(STAFF_HINT) == "1"  # a hint, not a credential
    key = (lang, explicit, PAGE_SHOWS(d), after, staff)
    views = str(d.views + svc.views.pending(d.id))
    page = svc.renderer.page(key)
    if page is None:
        page = await _discussion_page(request, svc, d, after, lang, staff)
        svc.renderer.keep_page(key, page)
    return HTMLResponse(
        page.replace(VIEWS_MARK, views),
        headers={
            "Content-Language": lang,
            "Vary": "Accept, Accept-Language, Cookie",  # staff see "moderate" links
            # a server asked to look up this page's URL finds the Group it shows
            "Link": f'<{svc.urls.group(d.slug)}>; rel="alternate"; type="{AS2_TYPE}"',
        },
    )


AS2_TYPE = "application/activity+json"
STAFF_HINT = "ff_staff"  # web/admin.STAFF_HINT_COOKIE
PAGE_SHOWS = discussion_fields_except("views", "last_activity_at")  # the count goes in last
VIEWS_MARK = "\u2063views\u2063"  # an invisible separator: never in real content


async def _discussion_page(
    request: Request, svc: Services, d: Discussion, after: int, lang: str, staff: bool
) -> str:
    notes = await svc.store.notes_page(d.id, after + 1, after + PAGE_SIZE)
    opening = next((n for n in notes if n.seq == 0), None)
    replies = [n for n in notes if n.seq > 0]
    last_after = ((d.last_seq - 1) // PAGE_SIZE) * PAGE_SIZE if d.last_seq else 0
    pages: dict[str, Any] = {
        "first": None if after == 0 else "?after=0",
        "prev": None if after == 0 else f"?after={max(after - PAGE_SIZE, 0)}",
        "next": f"?after={after + PAGE_SIZE}" if after + PAGE_SIZE < d.last_seq else None,
        "last": f"?after={last_after}" if after < last_after else None,
        "number": after // PAGE_SIZE + 1,
        "count": last_after // PAGE_SIZE + 1,
    }
    pages["numbers"] = page_numbers(pages["number"], pages["count"])
    # the title is the page's heading: the opening post does not repeat it
    notes = [
        dataclasses.replace(n, content=content.without_title(n.content, d.title))
        if n.seq == 0
        else n
        for n in notes
    ]
    opening = next((n for n in notes if n.seq == 0), None)
    official = await svc.store.official_notes(d.id)
    local = await local_authors_of(svc, [*notes, *official])
    reactions = await svc.store.reaction_counts([n.id for n in notes])
    group_url = svc.urls.group(d.slug)
    rendered = {
        n.seq: svc.renderer.message(
            lang,
            n,
            display_author(svc, d, n, local, lang),
            d.slug,
            group_url=group_url,
            reactions=reactions.get(n.id, NO_REACTIONS),
            replies_open=d.accepts_replies,
            moderate=staff,
        )
        for n in notes
    }
    response = render(
        request,
        "discussion.html",
        discussion=d,
        category=await svc.store.category_by_id(d.category_id) if d.category_id else None,
        handle=f"@{d.slug}@{svc.settings.domain}",
        views=VIEWS_MARK,
        opening=rendered[opening.seq] if opening else None,
        opening_text=content.excerpt(opening.content, 200) if opening else "",
        pinned=[
            {
                "seq": n.seq,
                "author": display_author(svc, d, n, local, lang),
                "excerpt": content.excerpt(n.content, 240),
            }
            for n in official
        ],
        reply_count_on_page=len(replies),
        # one string, not 50 template loop iterations
        replies_html=Markup("".join(f"<li>{rendered[n.seq]}</li>\n" for n in replies)),  # noqa: S704
        pages=pages,
        newest=place_of(d.last_seq) if d.last_seq else None,
    )
    return bytes(response.body).decode()


def _instance_text(path: Path | None) -> list[str] | None:
    """Paragraphs of an operator-supplied text file (shown escaped, as plain text)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return [p.strip() for p in text.split("\n\n") if p.strip()]


async def about(request: Request) -> Response:
    svc = services(request)
    stats = await svc.store.stats()
    return render(
        request, "about.html", custom=_instance_text(svc.settings.about_file), stats=stats
    )


async def terms(request: Request) -> Response:
    svc = services(request)
    return render(request, "terms.html", custom=_instance_text(svc.settings.terms_file))
