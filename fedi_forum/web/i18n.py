"""Templates and translations (nl, en).

English is the source language of every string; Dutch comes from a gettext catalog
(``locale/nl/LC_MESSAGES/messages.po``) compiled in memory at start-up, so the
repository holds no generated binaries. One Jinja2 environment per language, each with
its translations installed, keeps rendering free of per-request globals.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from email.utils import format_datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from fedi_forum.activitypub.content import inline_images, without_leading_mention
from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.config import LANGUAGES
from fedi_forum.models import Author, Note, parse_time
from fedi_forum.store.reactions import Reactions
from fedi_forum.web.lru import Lru
from fedi_forum.web.pagination import place_of

MESSAGE_CACHE_SIZE = 20_000  # ~1 KB each
PAGE_CACHE_SIZE = 500  # ~30 KB each
DOCUMENT_CACHE_SIZE = 1_000  # AS2 documents and pages, WebFinger answers: ~0.5-10 KB


def load_translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    po = files("fedi_forum.web").joinpath("locale", lang, "LC_MESSAGES", "messages.po")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def safe_url(value: str | None) -> str:
    """Only http(s) URLs reach an href/src: a remote actor's ``url`` is attacker-controlled
    and autoescaping does not stop ``javascript:``."""
    if value and urlsplit(value).scheme in ("http", "https"):
        return value
    return ""


def _time(value: str) -> datetime:
    return parse_time(value)


NO_REACTIONS = Reactions()


class Renderer:
    def __init__(
        self,
        globals_: Mapping[str, Any],
        timezone: str,
        media_url: Callable[[str | None], str] = lambda url: url or "",
    ) -> None:
        zone = ZoneInfo(timezone)
        self._messages: Lru[tuple[str, Note, Author, str, str, Reactions, bool, bool], Markup] = (
            Lru(MESSAGE_CACHE_SIZE)
        )
        self._pages: Lru[Hashable, str] = Lru(PAGE_CACHE_SIZE)
        self._documents: Lru[Hashable, bytes] = Lru(DOCUMENT_CACHE_SIZE)
        self._envs: dict[str, Environment] = {}
        self._translations: dict[str, Any] = {}
        for lang in LANGUAGES:
            env = Environment(
                loader=PackageLoader("fedi_forum.web", "templates"),
                autoescape=select_autoescape(["html", "xml"]),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,  # templates ship with the package; no stat per render
            )
            translations = load_translations(lang)
            self._translations[lang] = translations
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals.update(globals_)
            env.globals["lang"] = lang
            env.filters["datetime"] = lambda v, _l=lang: babel_datetime(
                _time(v), "d MMM yyyy HH:mm", tzinfo=zone, locale=_l
            )
            env.filters["rfc822"] = lambda v: format_datetime(_time(v), usegmt=True)
            env.filters["sanitized"] = lambda v: Markup(clean_html(v))  # noqa: S704 - nh3-cleaned
            env.filters["safe_url"] = safe_url
            env.filters["proxied"] = media_url  # remote images through /media
            env.filters["unmention"] = without_leading_mention
            # after |sanitized only: images through our media proxy
            env.filters["images"] = lambda v: Markup(inline_images(str(v), media_url))  # noqa: S704
            env.globals["place_of"] = place_of
            self._envs[lang] = env

    def render(self, lang: str, template: str, **context: Any) -> str:
        return self._envs[lang].get_template(template).render(**context)

    def gettext(self, lang: str, message: str) -> str:
        """``message`` from the catalogue the templates use; English for a language we
        have no catalogue for (a discussion's language may be any)."""
        translations = self._translations.get(lang) or self._translations["en"]
        return str(translations.gettext(message))

    def page(self, key: Hashable) -> str | None:
        """A whole rendered page, if its key (everything it shows) was seen before."""
        return self._pages.get(key)

    def keep_page(self, key: Hashable, html: str) -> None:
        self._pages.put(key, html)

    def document(self, key: Hashable) -> bytes | None:
        """A serialised document (AS2, WebFinger's JRD), keyed like ``page``."""
        return self._documents.get(key)

    def keep_document(self, key: Hashable, body: bytes) -> None:
        self._documents.put(key, body)

    def kept_document(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """``document(key)``, built (and kept) by ``build`` when it is not kept yet."""
        body = self._documents.get(key)
        if body is None:
            body = build()
            self._documents.put(key, body)
        return body

    def message(
        self,
        lang: str,
        note: Note,
        author: Author,
        slug: str,
        *,
        group_url: str = "",
        reactions: Reactions = NO_REACTIONS,
        replies_open: bool = True,
        moderate: bool = False,
    ) -> Markup:
        """One message's HTML, cached.

        A page shows 50 messages; rendering each through Jinja (escaping, dates,
        sanitizing again) costs ~0.2 ms, so a page would cost ~10 ms. Messages rarely
        change, and the cache key is *everything* the fragment shows (the frozen note
        and author values), so any edit, deletion, moderation or profile change simply
        misses the cache; nothing needs invalidating.
        """
        key = (lang, note, author, slug, group_url, reactions, replies_open, moderate)
        cached = self._messages.get(key)
        if cached is not None:
            return cached
        html = Markup(  # noqa: S704 - a template rendered with autoescape on
            self._envs[lang]
            .get_template("message.html")
            .render(
                note=note,
                author=author,
                slug=slug,
                group_url=group_url,
                reactions=reactions,
                replies_open=replies_open,
                moderate=moderate,
            )
        )
        self._messages.put(key, html)
        return html
