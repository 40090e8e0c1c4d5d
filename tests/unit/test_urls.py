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
    assert URLS.parse(URLS.follow_up(URLS.note("park", 3), "delete", follow)) == LocalRef(
        LocalKind.NOTE, "park", 3
    )
    assert URLS.parse(URLS.withdrawal(URLS.note("park", 3), "removed")) == LocalRef(
        LocalKind.NOTE, "park", 3
    )
    assert URLS.parse(URLS.answer("park", follow, True)) == LocalRef(LocalKind.GROUP, "park")
    assert URLS.answer("park", follow, True) != URLS.answer("park", follow, False)
    assert URLS.answer("park", follow, True).endswith(digest(follow))  # stable per Follow
    assert URLS.parse(URLS.group_delete("park", "t")) == LocalRef(LocalKind.GROUP, "park")
    assert URLS.parse(URLS.update(URLS.note("park", 0), "t")) == LocalRef(LocalKind.NOTE, "park", 0)
    assert URLS.parse(URLS.instance_follow("x")) == LocalRef(LocalKind.INSTANCE)
    assert URLS.parse(URLS.report(4, 0)) == LocalRef(LocalKind.INSTANCE)
    assert URLS.undo(URLS.announce("park", 3)) == "https://forum.example/d/park/m/3/announce/undo"


@pytest.mark.parametrize(
    ("url", "route"),
    [
        (URLS.instance_actor, "instance_actor"),
        (URLS.shared_inbox, "instance_inbox"),
        (URLS.about, "about"),
        (URLS.instance_feed_rss, "instance_feed"),
        (URLS.instance_feed_atom, "instance_feed"),
        (URLS.static("style.css"), "static"),
        (URLS.remote("club@other.example"), "remote_discussion"),
        (URLS.staff("anna"), "staff_actor"),
        (URLS.staff_note("anna", "abc"), "staff_note"),
        (URLS.group("park"), "discussion"),
        (URLS.inbox("park"), "group_inbox"),
        (URLS.outbox("park"), "outbox"),
        (URLS.followers("park"), "followers"),
        (URLS.following("park"), "following"),
        (URLS.featured("park"), "featured"),
        (URLS.context("park"), "context"),
        (URLS.feed_rss("park"), "discussion_feed"),
        (URLS.feed_atom("park"), "discussion_feed"),
        (URLS.note("park", 7), "note"),
        (URLS.note_activity("park", 7), "note_activity"),
        (URLS.replies("park", 7), "replies"),
    ],
)
def test_every_dereferenceable_url_is_served_by_its_named_route(url: str, route: str) -> None:
    """The paths are written twice — in ``Urls`` (absolute, published) and in
    ``web.routes`` (served): this keeps the two from drifting apart."""
    from urllib.parse import urlsplit

    from starlette.routing import Match

    from fedi_forum.web import routes

    path = urlsplit(url).path
    method = "POST" if route.endswith("inbox") else "GET"
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    matched = [r.name for r in routes() if r.matches(scope)[0] is Match.FULL]
    assert matched[:1] == [route], path


def test_no_two_routes_match_one_url() -> None:
    """The routes are ordered by traffic, not by meaning (``web.routes``): that is only
    safe while no URL matches two of them. A URL of every route, with a value each of
    its parameters accepts, must be matched in full by that route alone."""
    from starlette.convertors import IntegerConvertor, PathConvertor
    from starlette.routing import Match

    from fedi_forum.web import routes
    from fedi_forum.web.convertors import BoundedInt, _Choice

    def sample(convertor: object) -> str:
        if isinstance(convertor, _Choice):
            return sorted(convertor.choices)[0]
        if isinstance(convertor, BoundedInt | IntegerConvertor):
            return "7"
        if isinstance(convertor, PathConvertor):
            return "a/b.txt"
        return "park"

    table = routes()
    checked = 0
    for route in table:
        path = route.path_format
        for name, convertor in route.param_convertors.items():
            path = path.replace("{" + name + "}", sample(convertor))
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            full = [r.name for r in table if r.matches(scope)[0] is Match.FULL]
            assert full == [route.name], (path, method, full)
            checked += 1
    assert checked > len(table)  # every route, with each of its methods


def test_a_path_by_name_is_what_starlette_would_build() -> None:
    """``path_for`` finds a route by its name in a dict (web/__init__.py): only right
    while names are unique, and it must build exactly Starlette's path, or refuse."""
    from starlette.routing import NoMatchFound, Router

    from fedi_forum.web import path_for, routes

    table = routes()
    names = [route.name for route in table]
    assert len(names) == len(set(names)), "two routes share a name"
    router = Router(routes=table)
    path = path_for(router)
    for name, params in (
        ("discussion", {"slug": "park"}),
        ("note", {"slug": "park", "seq": 7}),
        ("admin_note", {"slug": "park", "seq": 7, "action": "hide"}),
        ("index", {}),
    ):
        assert path(name, **params) == router.url_path_for(name, **params)
    with pytest.raises(NoMatchFound):
        path("no_such_route")
    with pytest.raises(NoMatchFound):
        path("discussion")  # its slug is missing
