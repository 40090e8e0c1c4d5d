"""Text and HTML content helpers. Pure.

Local text (typed by staff on the command line or a form) becomes HTML here, escaped
and with URLs linked. Remote HTML is sanitized with nh3 on the way in (the inbox issue
adds that path); everything is escaped again by the templates on the way out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_TAG_RE = re.compile(r"<[^>]*>")
_WS_RE = re.compile(r"\s+")


def _linkify(escaped: str) -> str:
    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        return f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>'

    return _URL_RE.sub(link, escaped)


def plain_text_to_html(text: str) -> str:
    """Paragraphs on blank lines, <br> on single newlines, URLs linked, all escaped."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p]
    return "".join(
        "<p>" + "<br>".join(_linkify(html.escape(line)) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def opening_post_html(title: str, body_html: str) -> str:
    """Title first, in bold: how we keep a remote ``Article``'s title with its text, and
    how our own opening posts were published before they became ``Article``s."""
    return f"<p><strong>{html.escape(title)}</strong></p>{body_html}"


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace folded (for excerpts and summaries)."""
    with_breaks = re.sub(r"</p>|<br\s*/?>", " ", fragment, flags=re.IGNORECASE)
    return _WS_RE.sub(" ", html.unescape(_TAG_RE.sub("", with_breaks))).strip()


def without_title(fragment: str, title: str) -> str:
    """An opening post without the bold title it starts with (``opening_post_html``):
    where the title is already shown (the page's heading, an index entry), once is
    enough."""
    head = f"<p><strong>{html.escape(title)}</strong></p>"
    return fragment[len(head) :] if fragment.startswith(head) else fragment


def excerpt(fragment: str, limit: int = 200) -> str:
    text = html_to_text(fragment)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


_SENTENCE_END = re.compile(r"[.!?…](?=\s)")


def summary(fragment: str, limit: int = 400) -> str:
    """A plain-text lead of at most ``limit`` characters that ends at a sentence where
    one ends past half of it (else at a word, with "…"): what Mastodon shows of an
    ``Article`` beside its title and link (docs/rules.md §17)."""
    text = html_to_text(fragment)
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text[: limit + 1])]
    if ends and ends[-1] > limit // 2:
        return text[: ends[-1]]
    return excerpt(fragment, limit - 1)


# One mention link at the very start of a message, as Mastodon, Pleroma, Misskey and
# GoToSocial write it (an h-card span around it or not), with the space after it.
_LEADING_MENTION = re.compile(
    r'\s*(?:<span class="h-card"[^>]*>\s*)?<a\s[^>]*?href="([^"]+)"[^>]*>.*?</a>'
    r"(?:\s*</span>)?\s*",
    re.DOTALL,
)


def without_leading_mention(fragment: str, actor_id: str) -> str:
    """``fragment`` without the mention of ``actor_id`` (the discussion) it opens with:
    it is how a reply reached the discussion, not what its author says. Mentions of
    anyone else, and mentions later in the text, stay; a message that is nothing but
    the mention stays as it is. ``fragment`` is sanitised HTML (a remote reply)."""
    head = ""
    rest = fragment
    if rest.startswith("<p>"):
        head, rest = "<p>", rest[3:]
    found = _LEADING_MENTION.match(rest)
    if found is None or found.group(1).rstrip("/") != actor_id.rstrip("/"):
        return fragment
    remaining = rest[found.end() :]
    if not html_to_text(remaining):
        return fragment
    return head + remaining


_FIRST_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)


def split_title(fragment: str, name: str | None, addressed: str, limit: int) -> tuple[str, str]:
    """(title, text) of a post that starts a discussion (docs/categories.md): its
    ``name`` when it has one (Lemmy, PieFed and Mbin posts), else its first line (how
    Lemmy titles a Mastodon post); the text is the rest, or all of it when the first
    line was all there was. The mention of ``addressed`` (the category) it opens with
    is how it got here, so it is left out. ``fragment`` is sanitised HTML; the title is
    plain text of at most ``limit`` characters."""
    body = without_leading_mention(fragment, addressed)
    if name and name.strip():
        title, rest = name, body
    else:
        found = _FIRST_BREAK.search(body)
        head, rest = (body, "") if found is None else (body[: found.start()], body[found.end() :])
        if found is not None and found.group(0).lower().startswith("<br"):
            rest = "<p>" + rest  # the rest of the first paragraph stays a paragraph
        title = html_to_text(head)
        if not title:  # the first line was only the mention
            title = html_to_text(rest)
    title = " ".join(title.split())
    if len(title) > limit:
        title = title[: limit - 1].rsplit(" ", 1)[0] + "…"
    if not html_to_text(rest):
        rest = body
    return title, rest


def mention_link(profile_url: str, handle: str) -> str:
    """A mention of ``handle`` as Mastodon writes one: an h-card link to the profile."""
    user = handle.lstrip("@").split("@", 1)[0]
    return (
        f'<span class="h-card" translate="no"><a href="{html.escape(profile_url)}" '
        f'class="u-url mention">@<span>{html.escape(user)}</span></a></span>'
    )


def with_leading_mention(fragment: str, profile_url: str, handle: str) -> str:
    """``fragment`` (our HTML) opening with a mention of ``handle`` (``mention_link``),
    inside its first paragraph."""
    link = mention_link(profile_url, handle)
    if fragment.startswith("<p>"):
        return f"<p>{link} {fragment[3:]}"
    return f"<p>{link}</p>{fragment}"


_LINK = re.compile(r"<a\s([^>]*)>([^<]*)</a>")
_HREF = re.compile(r'\bhref="(https?://[^"]+)"')


def inline_images(fragment: str, image_url: Callable[[str], str]) -> str:
    """Sanitised HTML with each image link (``u-photo``, see ``parse.attachments_html``)
    shown as the image, at ``image_url(original)`` (our media proxy: no reader's
    address reaches another server), inside a link to the original, with its alt text.
    Runs on sanitised HTML only, after the sanitiser."""

    def image(found: re.Match[str]) -> str:
        attributes = found.group(1)
        href = _HREF.search(attributes)
        if 'class="u-photo"' not in attributes or href is None:
            return found.group(0)
        original = html.unescape(href.group(1))
        src = image_url(original)
        if not src:
            return found.group(0)
        alt = html.unescape(found.group(2))
        return (
            f'<a href="{html.escape(original)}" rel="nofollow noopener noreferrer ugc">'
            f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" loading="lazy"></a>'
        )

    return _LINK.sub(image, fragment)
