"""Golden payloads (see payloads/README.md) through the real inbox, over real HTTP.

Each payload keeps everything as the other server sent it, except: its origin becomes
our fake remote server on 127.0.0.1, and what it pointed at on the original servers
(a status it replied to, a community it addressed) becomes our discussion. It is then
signed with the sending actor's key, as that server signs, and POSTed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from fedi_forum.models import NoteState
from tests.conftest import Live
from tests.support.db import queued_deliveries, reactions_count
from tests.support.remote import RemoteServer

PAYLOADS = Path(__file__).parent / "payloads"
OPENING = "{opening}"
GROUP = "{group}"


@dataclasses.dataclass(frozen=True)
class Case:
    file: str
    origin: str
    actor_path: str
    targets: dict[str, str]  # original URL → {opening} / {group}
    expect: str  # "stored", "edited", "deleted", "following", "unfollowed", "report", "reaction"
    before: tuple[str, ...] = ()
    style: str = "mastodon"


MASTODON_TARGETS = {
    "https://mamot.fr/users/retiolus/statuses/107224244380204526": OPENING,
    "https://mamot.fr/users/retiolus": GROUP,
}
CASES = [
    Case(
        "mastodon_create_note.json",
        "https://mastodon.madrid",
        "/users/felix",
        MASTODON_TARGETS,
        "stored",
    ),
    Case(
        "mastodon_update_note.json",
        "https://mastodon.madrid",
        "/users/felix",
        MASTODON_TARGETS,
        "edited",
        before=("mastodon_create_note.json",),
    ),
    Case(
        "mastodon_delete.json",
        "https://mastodon.madrid",
        "/users/felix",
        MASTODON_TARGETS,
        "deleted",
        before=("mastodon_create_note.json",),
    ),
    Case(
        "mastodon_follow.json",
        "https://masto.asonix.dog",
        "/users/asonix",
        {"https://ds9.lemmy.ml/c/testcom": GROUP},
        "following",
    ),
    Case(
        "mastodon_undo_follow.json",
        "https://masto.asonix.dog",
        "/users/asonix",
        {"https://ds9.lemmy.ml/c/testcom": GROUP},
        "unfollowed",
        before=("mastodon_follow.json",),
    ),
    Case(
        "mastodon_flag.json",
        "https://mastodon.example",
        "/actor",
        {"https://example.com/posts/380590": OPENING, "https://example.com/users/1": GROUP},
        "report",
    ),
    Case(
        "mastodon_like.json",
        "https://mastodon.madrid",
        "/users/felix",
        {"https://ds9.lemmy.ml/post/147": OPENING},
        "reaction",
    ),
    Case(
        "pleroma_create_note.json",
        "https://greenish.red",
        "/users/nutomic",
        {
            "https://enterprise.lemmy.ml/post/55143": OPENING,
            "https://enterprise.lemmy.ml/u/picard": GROUP,
        },
        "stored",
    ),
    Case(
        "akkoma_emoji_react.json",
        "https://akkoma.example",
        "/users/akko",
        {
            "https://remote.example/objects/9f0e93499d8314a9": OPENING,
            "https://remote.example/users/diana": GROUP,
        },
        "reaction",
    ),
    Case(
        "lemmy_create_note.json",
        "http://ds9.lemmy.ml",
        "/u/lemmy_alpha",
        {"http://ds9.lemmy.ml/post/1": OPENING, "http://enterprise.lemmy.ml/c/main": GROUP},
        "stored",
    ),
    Case(
        "gotosocial_create_note.json",
        "https://gts.example.org",
        "/users/the_mighty_zork",
        {
            "https://example.org/users/someone/statuses/1": OPENING,
            "https://example.org/users/someone": GROUP,
        },
        "stored",
        style="gotosocial",
    ),
    Case(
        "misskey_create_note.json",
        "https://misskey.example",
        "/users/9v1bkt3xqp",
        {
            "https://example.org/users/someone/statuses/1": OPENING,
            "https://example.org/users/someone": GROUP,
        },
        "stored",
    ),
    Case(
        "piefed_create_note.json",
        "https://piefed.example",
        "/u/rimu",
        {"https://lemmy.example/post/1": OPENING, "https://lemmy.example/c/gemeente": GROUP},
        "stored",
    ),
    Case(
        "nodebb_create_note.json",
        "https://nodebb.example",
        "/uid/7",
        {"https://nodebb.example/post/1801": OPENING, "https://nodebb.example/category/3": GROUP},
        "stored",
    ),
    Case(
        "wordpress_create_article.json",
        "https://blog.example",
        "/?author=1",
        {"https://example.org/users/someone/statuses/1": OPENING},
        "stored",
    ),
]


def load(case: Case, file: str, remote: RemoteServer, group: str) -> dict[str, Any]:
    text = (PAYLOADS / file).read_text()
    for original, target in sorted(case.targets.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(original, target)
    text = text.replace(case.origin, remote.base_url)
    text = text.replace(OPENING, f"{group}/m/0").replace(GROUP, group)
    doc: dict[str, Any] = orjson.loads(text)
    return doc


def _object_id(doc: dict[str, Any]) -> str:
    obj = doc["object"]
    return str(obj["id"] if isinstance(obj, dict) else obj)


@pytest.mark.parametrize("case", CASES, ids=[c.file.removesuffix(".json") for c in CASES])
async def test_payload(live: Live, remote: RemoteServer, case: Case) -> None:
    await live.discussions.create(slug="gemeente", title="Gemeente", body="b", lang="nl")
    group = f"{live.base_url}/d/gemeente"
    name = case.actor_path.strip("/").rsplit("/", 1)[-1].replace("?author=", "author")
    actor = remote.actor(
        name,
        style=case.style,
        path=case.actor_path,
        type_="Application" if case.actor_path == "/actor" else "Person",
    )
    for earlier in (*case.before, case.file):
        doc = load(case, earlier, remote, group)
        assert doc["actor"] == actor.id, "the payload's actor is served by the fake remote"
        r = await actor.post(live.client, f"{live.base_url}/inbox", doc)
        assert r.status_code == 202, (earlier, r.text)
    d = await live.store.discussion("gemeente")
    assert d is not None
    if case.expect in ("stored", "edited", "deleted"):
        create = load(case, case.before[0] if case.before else case.file, remote, group)
        note_id = _object_id(create)
        location = await live.store.note_location(note_id)
        assert location == ("gemeente", 1), f"{note_id} not stored as reply #1"
        note = await live.store.note(d.id, 1)
        assert note is not None
        assert note.author.actor_id == actor.id
        if case.expect == "stored":
            assert note.content
            assert "<script" not in note.content
            page = (await live.client.get("/d/gemeente", headers={"Accept": "text/html"})).text
            assert 'id="m1"' in page
        elif case.expect == "edited":
            assert "edited:" in note.content
            assert note.updated is not None
        else:
            assert note.state is NoteState.DELETED
    elif case.expect == "following":
        assert (await live.client.get("/d/gemeente/followers")).json()["totalItems"] == 1
        ((_, _inbox, _, payload),) = await queued_deliveries(live.store)
        assert orjson.loads(payload)["object"]["id"] == load(case, case.file, remote, group)["id"]
    elif case.expect == "unfollowed":
        assert (await live.client.get("/d/gemeente/followers")).json()["totalItems"] == 0
    elif case.expect == "report":
        (report,) = await live.store.reports()
        assert f"{group}/m/0" in report["note_ids"]
        assert report["reporter"] == actor.id
    elif case.expect == "reaction":
        counts = await reactions_count(live.store, f"{group}/m/0")
        assert sum(counts.values()) == 1
    else:  # pragma: no cover
        raise AssertionError(case.expect)
