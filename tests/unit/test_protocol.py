"""Pure protocol code: documents, content, sanitizing, negotiation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from fedi_forum.activitypub import actors, content, discovery, parse, shapes, vocab
from fedi_forum.activitypub.content import html_to_text, without_leading_mention
from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.activitypub.urls import Urls
from fedi_forum.models import format_time, parse_time
from fedi_forum.web.negotiation import preferred_language, preferred_representation

URLS = Urls("https://forum.example.nl")


def test_group_actor_has_everything_mastodon_requires() -> None:
    doc = actors.group_actor(
        URLS,
        slug="afval",
        domain="forum.example.nl",
        title="Afval",
        summary_html="<p>x</p>",
        public_key_pem="PEM",
        published="2026-01-01T00:00:00Z",
        updated="2026-01-02T00:00:00Z",
        restricted=False,
        icon_url="https://forum.example.nl/static/group-icon.png",
    )
    assert shapes.AS_NS in doc["@context"]
    assert doc["type"] == "Group"
    assert doc["id"] == "https://forum.example.nl/d/afval"
    assert doc["preferredUsername"] == "afval"
    assert doc["inbox"].endswith("/d/afval/inbox")
    assert doc["endpoints"]["sharedInbox"] == "https://forum.example.nl/inbox"
    assert doc["publicKey"] == {
        "id": doc["id"] + "#main-key",
        "owner": doc["id"],
        "publicKeyPem": "PEM",
    }
    assert doc["manuallyApprovesFollowers"] is False
    assert doc["postingRestrictedToMods"] is False
    for field in ("outbox", "followers", "featured", "icon", "published", "url", "discoverable"):
        assert field in doc


def test_opening_note_renders_in_mastodon_and_forums() -> None:
    note = vocab.opening_note(
        URLS,
        slug="afval",
        domain="forum.example.nl",
        title="Afval",
        content_html="<p>Wat doen we met het zwerfafval?</p><p>x</p>",
        lang="nl",
        published="2026-01-01T00:00:00Z",
        updated=None,
    )
    # docs/rules.md §17: Mastodon shows an Article's name, summary and link; forum
    # servers its name above its content — so the title is not in the content too.
    assert note["type"] == "Article"
    assert note["name"] == "Afval"
    assert note["content"] == "<p>Wat doen we met het zwerfafval?</p><p>x</p>"
    assert note["summary"] == "Wat doen we met het zwerfafval? x"
    assert note["contentMap"] == {"nl": note["content"]}
    assert note["attributedTo"] == "https://forum.example.nl/d/afval"
    assert note["audience"] == note["attributedTo"]
    assert note["context"] == "https://forum.example.nl/d/afval/context"
    assert note["to"] == [shapes.PUBLIC]
    assert {
        "type": "Mention",
        "href": note["attributedTo"],
        "name": "@afval@forum.example.nl",
    } in note["tag"]
    assert note["replies"].endswith("/m/0/replies")
    create = vocab.create(
        "https://forum.example.nl/d/afval/m/0/activity", note["attributedTo"], note
    )
    assert create["object"]["id"] == note["id"]
    assert "@context" not in create["object"]


def test_an_opening_note_of_an_earlier_version_becomes_the_article_it_is_now() -> None:
    old = vocab.opening_note(
        URLS,
        slug="afval",
        domain="forum.example.nl",
        title="Afval",
        content_html="<p>x</p>",
        lang="nl",
        published="2026-01-01T00:00:00Z",
        updated=None,
    )
    stored: shapes.NoteDoc = {**old, "type": "Note"}  # as published before: title in bold
    stored["content"] = "<p><strong>Afval</strong></p><p>x</p>"
    stored["contentMap"] = {"nl": stored["content"]}
    del stored["summary"]
    assert vocab.as_article(stored, "Afval") == old


def test_an_articles_summary_is_a_lead_that_ends_at_a_sentence() -> None:
    sentence = "Het college wil de afvalinzameling in de wijk anders regelen. "
    text = "<p>" + sentence * 12 + "</p>"
    lead = content.summary(text)
    assert len(lead) <= 400
    assert lead.endswith("regelen.")
    one_long = "<p>" + "woord " * 200 + "</p>"  # no sentence ends: cut at a word
    assert content.summary(one_long).endswith("woord…")
    assert len(content.summary(one_long)) <= 400
    assert content.summary("<p>Kort.</p>") == "Kort."


def test_host_meta_escapes_and_points_to_webfinger() -> None:
    xml = discovery.host_meta('https://x.nl"<')
    assert "template='https://x.nl\"&lt;/.well-known/webfinger?resource={uri}'" in xml
    import xml.etree.ElementTree as ET

    link = ET.fromstring(xml.split("\n", 1)[1])[0]
    assert link.get("template") == 'https://x.nl"</.well-known/webfinger?resource={uri}'
    assert link.get("rel") == "lrdd"


def test_plain_text_becomes_escaped_html_with_links() -> None:
    html = content.plain_text_to_html(
        "Hallo <b>wereld</b>\nregel 2\n\nZie https://gemeente.nl/a?b=1."
    )
    assert html == (
        "<p>Hallo &lt;b&gt;wereld&lt;/b&gt;<br>regel 2</p>"
        '<p>Zie <a href="https://gemeente.nl/a?b=1" rel="nofollow noopener noreferrer">'
        "https://gemeente.nl/a?b=1</a>.</p>"
    )
    assert "<a" not in content.plain_text_to_html("javascript:alert(1)")


def test_excerpt_folds_whitespace_and_cuts_on_a_word() -> None:
    assert content.excerpt("<p>a &amp; b</p><p>c</p>") == "a & b c"
    long = "<p>" + "woord " * 100 + "</p>"
    cut = content.excerpt(long, 30)
    assert cut.endswith("…")
    assert len(cut) <= 31


@pytest.mark.parametrize(
    ("hostile", "forbidden"),
    [
        pytest.param("<script>alert(1)</script><p>hi</p>", "script", id="script"),
        pytest.param('<p onclick="alert(1)">x</p>', "onclick", id="event-handler"),
        pytest.param('<a href="javascript:alert(1)">x</a>', "javascript", id="js-link"),
        pytest.param('<p style="background:url(x)">x</p>', "style", id="css"),
        pytest.param("<style>p{}</style><p>x</p>", "<style", id="style-tag"),
        pytest.param('<img src=x onerror="alert(1)">', "<img", id="img"),
        pytest.param("<iframe src=//evil></iframe>", "iframe", id="iframe"),
        pytest.param('<a href="https://x" class="mention evil">x</a>', "evil", id="class"),
    ],
)
def test_sanitizer_removes_hostile_html(hostile: str, forbidden: str) -> None:
    assert forbidden not in clean_html(hostile)


def test_sanitizer_keeps_mastodon_markup() -> None:
    html = (
        '<p><span class="h-card"><a href="https://m.nl/@a" class="u-url mention">@<span>a'
        '</span></a></span> zie <a href="https://m.nl/tags/x" class="mention hashtag">#x</a></p>'
    )
    cleaned = clean_html(html)
    assert 'class="u-url mention"' in cleaned
    assert 'class="h-card"' in cleaned
    assert 'rel="nofollow noopener noreferrer ugc"' in cleaned


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "html"),
        ("*/*", "html"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "html"),
        ("application/activity+json, application/ld+json", "as2"),
        ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', "as2"),
        ("application/activity+json;q=0.5, text/html", "html"),
        ("image/png", None),
        ("text/html;q=0", None),
        ("garbage;;;q=x", None),
    ],
)
def test_content_negotiation(accept: str | None, expected: str | None) -> None:
    assert preferred_representation(accept) == expected


def test_language_choice() -> None:
    assert preferred_language(None, "nl") == "nl"
    assert preferred_language("en-GB,en;q=0.9", "nl") == "en"
    assert preferred_language("de-DE, nl;q=0.5, en;q=0.7", "nl") == "en"
    assert preferred_language("fr", "en") == "en"


@pytest.mark.parametrize("server", ["mastodon", "gotosocial", "pleroma", "misskey"])
def test_the_discussion_mention_a_reply_opens_with_is_left_out(server: str) -> None:
    """Real payloads' mention markup (tests/interop/payloads), pointed at a discussion."""
    payloads = Path(__file__).parents[1] / "interop" / "payloads"
    doc = orjson.loads((payloads / f"{server}_create_note.json").read_bytes())
    real = str(doc["object"]["content"])
    first = re.search(r'href="([^"]+)"', real)
    assert first is not None
    group = "https://forum.example/d/plein"
    aimed = clean_html(real.replace(first.group(1), group, 1))
    shown = without_leading_mention(aimed, group)
    if aimed.removeprefix("<p>").startswith(("<span", "<a")):  # it opens with the mention
        assert group not in shown
        assert html_to_text(shown)
        assert html_to_text(aimed).endswith(html_to_text(shown))
    else:  # GoToSocial's mention comes later: kept
        assert shown == aimed
    other = aimed.replace(group, "https://elsewhere.example/@x")
    assert without_leading_mention(other, group) == other  # someone else's: kept


def test_stems_made_before_the_write_are_the_stems_the_index_would_make() -> None:
    """search_text.prepare: the request makes a note's stems so the writer only takes
    them; taken once, keyed by the exact text and language, bounded."""
    from fedi_forum.activitypub import search_text

    text = "<p>De bomen in de straten &amp; het fietspad</p>"
    expected = search_text.stems_of(text, "nl")
    search_text.prepare(text, "nl")
    assert search_text._prepared[(text, "nl")] == expected
    assert search_text.stems_of(text, "nl") == expected  # taken…
    assert (text, "nl") not in search_text._prepared  # …once
    search_text.prepare(text, "en")  # another language is another entry
    assert search_text.stems_of(text, "nl") == expected
    for n in range(search_text.MAX_PREPARED + 10):
        search_text.prepare(f"<p>{n}</p>", "nl")
    assert len(search_text._prepared) <= search_text.MAX_PREPARED


def test_numbers_pass_unstemmed_and_stay_out_of_the_stem_cache() -> None:
    """A word of digits is its own stem in both stemmers, so the index may skip the
    stemmer for it; skipped, a reply full of unique numbers leaves ``stem``'s cache to
    the words that recur."""
    from fedi_forum.activitypub import search_text

    numbers = ["0", "7", "1234", "2026", "00012", "3141592653", "²", "١٢٣"]
    for lang in ("nl", "en"):
        for n in numbers:
            assert n.isdigit()
            assert str(search_text._STEMMERS[lang].stemWord(n)) == n
    search_text.stem.cache_clear()
    text = "<p>Reactie 48213: de bomen in 1987 en 2026, huisnummer 17</p>"
    assert search_text.stems_of(text, "nl") == (
        "reactie 48213 de boom in 1987 en 2026 huisnummer 17"
    )
    assert search_text.stem.cache_info().currsize == 6  # the words, not the numbers


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 30, 21, 0, 0, tzinfo=UTC), "2026-11-30T21:00:00Z"),  # ours
        (datetime(2026, 11, 30, 21, 0, 0, 5, tzinfo=UTC), "2026-11-30T21:00:00.000005Z"),
        (
            datetime(2026, 12, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=4))),
            "2026-11-30T21:00:00Z",
        ),
        (datetime(999, 12, 31, 10, 0, 0, tzinfo=UTC), "0999-12-31T10:00:00Z"),
    ],
)
def test_times_are_written_in_one_form_that_reads_back(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
    assert parse_time(text) == moment


def test_a_short_year_written_by_an_earlier_version_still_reads() -> None:
    assert parse_time("999-12-31T10:00:00Z") == datetime(999, 12, 31, 10, 0, 0, tzinfo=UTC)
    assert parse_time("5-01-01T00:00:00Z").year == 5


@pytest.mark.parametrize(
    "published",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:30:00Z",
        "0001-01-01T00:10:00Z",
        "2026-13-01T00:00:00Z",
    ],
)
def test_a_remote_time_no_page_could_show_is_no_time(published: str) -> None:
    """Attacker-controlled: outside years 1-9999 in UTC or in some time zone, or no
    date at all."""
    assert parse._time(published) is None
