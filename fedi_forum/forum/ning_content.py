"""Ning's HTML as ours: what the archive's bodies mean before the sanitiser sees them.

Attacker-controlled input (whatever members typed on Ning, and whatever the archive
holds since). This pass only *rewrites* (YouTube players become links, the archive's
relative file links point to the imported copy or go, images become links), and its
output is then cleaned by ``activitypub.sanitize.clean_html`` exactly like remote
content: nothing that pass would strip can survive because of this one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

from fedi_forum.activitypub.sanitize import MAX_HTML_CHARS, clean_html

# A file reference of the archive → its public URL, or None when it is not there.
Resolver = Callable[[str], str | None]

_YOUTUBE = re.compile(
    r"(?:https?:)?//(?:www\.)?youtube(?:-nocookie)?\.com/embed/([A-Za-z0-9_-]{6,20})"
)
_DROPPED = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template"})
_VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "wbr", "source", "param"})


def is_archive_path(ref: str) -> bool:
    """A reference into the archive's folders (``discussions/12-34.jpg?width=737``), as
    Ning wrote them: relative, no scheme, no host."""
    ref = ref.strip()
    return bool(ref) and not ref.startswith(("/", "#", "?")) and ":" not in ref.split("/")[0]


def _is_image(url_or_tag: str) -> bool:
    """Whether a URL (or the opening tag of a link to it) names an image file."""
    found = re.search(r'href="([^"]*)"', url_or_tag)
    url = html.unescape(found.group(1)) if found else url_or_tag
    return bool(re.search(r"\.(jpe?g|png|gif|webp)$", url.split("?", 1)[0], re.IGNORECASE))


def file_name(ref: str) -> str:
    return ref.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class _Rewriter(HTMLParser):
    def __init__(self, resolve: Resolver) -> None:
        super().__init__(convert_charrefs=True)
        self.resolve = resolve
        self.out: list[str] = []
        self.skipping = 0  # inside a dropped element
        # for each open <a>: where its opening tag is in ``out`` (None: not kept)
        self.links: list[int | None] = []

    def _url(self, ref: str | None) -> str | None:
        if not ref:
            return None
        ref = ref.strip()
        if is_archive_path(ref):
            return self.resolve(ref)
        if ref.startswith("//"):
            ref = f"https:{ref}"
        return ref if ref.lower().startswith(("http://", "https://")) else None

    def _link(self, url: str, text: str, photo: bool = False) -> None:
        mark = ' class="u-photo"' if photo else ""
        self.out.append(f'<a href="{html.escape(url)}"{mark}>{html.escape(text)}</a>')

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in _DROPPED:
            src = values.get("src") or values.get("data") or ""
            found = _YOUTUBE.search(src)
            if tag == "iframe" and found and not self.skipping:  # a player: a link to it
                video = f"https://www.youtube.com/watch?v={found.group(1)}"
                self._link(video, video)
            if tag not in _VOID:
                self.skipping += 1
            return
        if self.skipping:
            return
        if tag == "img":
            url = self._url(values.get("src"))
            label = (values.get("alt") or "").strip() or (file_name(values.get("src") or "") or "")
            opened = self.links[-1] if self.links else None
            if opened is not None:  # Ning's <a href=file><img src=file?width=…></a>
                self.out.append(html.escape(label))
                if _is_image(self.out[opened]):  # the link itself is the image: shown
                    self.out[opened] = self.out[opened].replace("<a ", '<a class="u-photo" ', 1)
            elif url:
                self._link(url, label or url, photo=_is_image(url))
            return
        if tag == "a":
            url = self._url(values.get("href"))
            self.links.append(len(self.out) if url else None)
            if url:
                self.out.append(f'<a href="{html.escape(url)}">')
            return
        kept = "".join(
            f' {name}="{html.escape(value or "")}"' for name, value in attrs if name == "lang"
        )
        self.out.append(f"<{tag}{kept}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED and tag not in _VOID:
            self.handle_starttag(tag, attrs)
            self.skipping -= 1  # <iframe/>: nothing inside to skip
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        if self.skipping or tag in _VOID:
            return
        if tag == "a":
            if self.links and self.links.pop() is not None:
                self.out.append("</a>")
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))


def ning_html(body: str, resolve: Resolver) -> str:
    """A Ning body as sanitised HTML of ours ('' when nothing is left)."""
    text = body[:MAX_HTML_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    parser = _Rewriter(resolve)
    parser.feed(text)
    parser.close()
    cleaned = clean_html("".join(parser.out)).strip()
    return cleaned if re.sub(r"<[^>]*>|\s", "", cleaned) else ""
