"""Property: whatever validly signed activity a remote sends, the inbox answers a 2xx or a
clear 4xx, never a 5xx, and the server stays consistent.

Hypothesis generates activities whose every field may be a string, number, null, list
or object; they are signed with a real key and POSTed over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedi_forum.app import create_app
from fedi_forum.config import Settings
from tests.support.live import live_server
from tests.support.remote import RemoteServer, remote_server

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=20),
    st.sampled_from(
        [
            "https://www.w3.org/ns/activitystreams#Public",
            "as:Public",
            "Public",
            "javascript:alert(1)",
            "http://169.254.169.254/",
            "<script>x</script>",
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(
    [
        "Create",
        "Update",
        "Delete",
        "Follow",
        "Undo",
        "Like",
        "Announce",
        "EmojiReact",
        "Flag",
        "Block",
        "Accept",
        "Move",
        "Note",
    ]
)
OBJECT_TYPES = st.sampled_from(
    ["Note", "Article", "Page", "Question", "Tombstone", "Person", "Follow", "Like", "Image"]
)


def activities(actor: str, group: str) -> st.SearchStrategy[dict[str, Any]]:
    targets = st.sampled_from([group, f"{group}/m/0", f"{group}/followers", actor, "x"])
    note = st.fixed_dictionaries(
        {"type": OBJECT_TYPES, "id": st.one_of(JSON, st.just(f"{actor}/statuses/1"))},
        optional={
            "attributedTo": st.one_of(JSON, st.just(actor)),
            "content": JSON,
            "contentMap": JSON,
            "summary": JSON,
            "name": JSON,
            "inReplyTo": st.one_of(JSON, targets),
            "to": st.one_of(JSON, targets),
            "cc": JSON,
            "tag": JSON,
            "attachment": JSON,
            "published": JSON,
            "updated": JSON,
            "sensitive": JSON,
            "url": JSON,
            "audience": st.one_of(JSON, targets),
            "actor": st.one_of(JSON, st.just(actor)),
            "object": st.one_of(JSON, targets),
        },
    )
    return st.fixed_dictionaries(
        {
            "id": st.builds(lambda n: f"{actor}#a/{n}", st.integers(0, 10**9)),
            "type": TYPES,
            "actor": st.just(actor),
        },
        optional={
            "object": st.one_of(JSON, note, targets),
            "to": JSON,
            "cc": JSON,
            "content": JSON,
            "audience": JSON,
        },
    )


HTML = {"Accept": "text/html"}


def test_inbox_never_answers_5xx(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:
        remote: RemoteServer = loop.run_until_complete(stack.enter_async_context(remote_server()))

        def make(base_url: str):  # type: ignore[no-untyped-def]
            return create_app(
                Settings(
                    base_url=base_url,
                    data_dir=tmp_path / "d",
                    keys_dir=tmp_path / "k",
                    allow_loopback=True,
                )
            )

        base_url, app = loop.run_until_complete(stack.enter_async_context(live_server(make)))
        client = loop.run_until_complete(
            stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
        )
        loop.run_until_complete(
            app.state.services.discussions.create(slug="prop", title="Prop", body="b", lang="nl")
        )
        alice = remote.actor("alice")
        group = f"{base_url}/d/prop"

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(activity=activities(alice.id, group), shared=st.booleans())
        def check(activity: dict[str, Any], shared: bool) -> None:
            url = f"{base_url}/inbox" if shared else f"{group}/inbox"
            body = orjson.dumps(activity)
            r = loop.run_until_complete(alice.post(client, url, body))
            assert r.status_code < 500, (r.status_code, r.text, activity)
            assert r.status_code in (202, 400, 401, 403, 404, 413, 415), r.text

        check()
        # still serving, and what was stored is whole: the context lists every note of
        # the discussion once, in seq order, the opening post first; every stored reply
        # answers on its permalink (a redirect to its place; 404 only while held)
        context = loop.run_until_complete(client.get("/d/prop/context")).json()
        items = context["orderedItems"]
        assert items[0] == f"{group}/m/0"
        assert len(items) == len(set(items)) == context["totalItems"]
        services = app.state.services
        rows = loop.run_until_complete(
            services.store.db.fetch_all(
                "SELECT seq, ap_id FROM notes WHERE discussion_id = "
                "(SELECT id FROM discussions WHERE slug = 'prop') ORDER BY seq"
            )
        )
        assert [r[0] for r in rows] == list(range(len(rows)))  # dense, gap-free seqs
        for seq in range(1, len(rows)):
            page = loop.run_until_complete(client.get(f"/d/prop/m/{seq}", headers=HTML))
            assert page.status_code in (302, 404), (seq, page.status_code)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
