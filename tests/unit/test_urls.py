"""Urls: every id we mint, and the inverse — which local thing a URL names. The input
of ``parse`` is attacker-controlled (keyIds, inReplyTo, WebFinger resources)."""

from __future__ import annotations

import pytest

from fedi_forum.activitypub.urls import LocalKind, LocalRef, Urls, digest

URLS = Urls("https://forum.example")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://forum.example/actor", LocalRef(LocalKind.INSTANCE)),
        ("https://forum.example/actor#main-key", LocalRef(LocalKind.INSTANCE)),
        ("https://forum.example/d/park", LocalRef(LocalKind.GROUP, "park")),
        ("https://forum.example/d/Park#main-key", LocalRef(LocalKind.GROUP, "park")),
        ("https://forum.example/d/park/outbox?page=true", LocalRef(LocalKind.GROUP, "park")),
        ("https://forum.example/d/park/m/7", LocalRef(LocalKind.NOTE, "park", 7)),
        ("https://forum.example/d/park/m/7/announce", LocalRef(LocalKind.NOTE, "park", 7)),
        ("https://forum.example/d/park/m/x", LocalRef(LocalKind.GROUP, "park")),
        ("https://forum.example/staff/Anna", LocalRef(LocalKind.STAFF, username="anna")),
        ("https://forum.example/staff/anna/notes/abc", LocalRef(LocalKind.STAFF, username="anna")),
        ("https://forum.example/about", None),
        ("https://forum.example/d/", None),
        ("https://forum.example.evil/d/park", None),  # not our host: a prefix is not enough
        ("https://evil.example/d/park", None),
        ("http://forum.example/d/park", None),
        ("https://forum.example/d/park/m/" + "9" * 5000, LocalRef(LocalKind.GROUP, "park")),
    ],
)
def test_parse(url: str, expected: LocalRef | None) -> None:
    assert URLS.parse(url) == expected


def test_every_minted_id_parses_back_to_what_it_is_about() -> None:
    follow = "https://mastodon.example/users/a#follows/1"
    assert URLS.parse(URLS.announce("park", 3)) == LocalRef(LocalKind.NOTE, "park", 3)
    assert URLS.parse(URLS.follow_up("park", 3, "delete", follow)) == LocalRef(
        LocalKind.NOTE, "park", 3
    )
    assert URLS.parse(URLS.withdrawal("park", 3, "removed")) == LocalRef(LocalKind.NOTE, "park", 3)
    assert URLS.parse(URLS.answer("park", follow, True)) == LocalRef(LocalKind.GROUP, "park")
    assert URLS.answer("park", follow, True) != URLS.answer("park", follow, False)
    assert URLS.answer("park", follow, True).endswith(digest(follow))  # stable per Follow
    assert URLS.parse(URLS.group_delete("park", "t")) == LocalRef(LocalKind.GROUP, "park")
    assert URLS.parse(URLS.update(URLS.note("park", 0), "t")) == LocalRef(LocalKind.NOTE, "park", 0)
    assert URLS.parse(URLS.instance_follow("x")) == LocalRef(LocalKind.INSTANCE)
    assert URLS.parse(URLS.report(4, 0)) == LocalRef(LocalKind.INSTANCE)
    assert URLS.undo(URLS.announce("park", 3)) == "https://forum.example/d/park/m/3/announce/undo"
