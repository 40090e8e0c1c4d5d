"""What a Lemmy instance checks before it files a post or a comment that a community it
follows announced — a model of the remote world, built from Lemmy's source (the facts
and the files they come from: docs/rules.md §18). No Lemmy runs here, so this stands in
for one; it checks only what those files check, and nothing of ours.

``LemmyModel.receive`` takes each Announce as a Lemmy inbox receives it; documents it
needs (the author, the community, a parent) it fetches over HTTP, as Lemmy does. A
refusal raises ``Refused`` with Lemmy's reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_FORMS = frozenset({PUBLIC, "as:Public", "Public"})
# crates/apub/objects/src/protocol/person.rs: UserTypes
PERSON_TYPES = frozenset({"Person", "Service", "Organization"})
POST_TYPES = frozenset({"Page", "Article", "Note", "Video", "Event"})

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class Refused(Exception):
    """Lemmy would answer this activity with an error and file nothing."""


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return [value["id"]]
    if isinstance(value, list):
        return [i for v in value for i in _ids(v)]
    return []


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _public(doc: dict[str, Any]) -> bool:
    """verify_is_public / verify_visibility: Public in ``to`` or ``cc``."""
    return bool(PUBLIC_FORMS & set(_ids(doc.get("to")) + _ids(doc.get("cc"))))


@dataclasses.dataclass
class LemmyModel:
    """One Lemmy instance whose users follow ``followed`` (community ids): the only
    remote communities it takes activities in (``can_accept_activity_in_community``)."""

    fetch: Fetch
    followed: set[str]
    posts: dict[str, str] = dataclasses.field(default_factory=dict)  # post id → community
    comments: dict[str, str] = dataclasses.field(default_factory=dict)  # comment → post id
    titles: dict[str, str] = dataclasses.field(default_factory=dict)  # post id → name
    edits: int = 0

    async def receive(self, announce: dict[str, Any]) -> str:
        """activities/community/announce.rs ``AnnounceActivity::receive``: the inner
        activity must be embedded (an id-only Announce is Mastodon's form, not taken as
        a post), its community must be followed here, and the Announce public."""
        if announce.get("type") != "Announce":
            raise Refused(f"not an Announce: {announce.get('type')}")
        inner = announce.get("object")
        if not isinstance(inner, dict):
            raise Refused("Announce of an id: Lemmy reads no post from it")
        if inner.get("type") not in ("Create", "Update"):
            raise Refused(f"Announce{{{inner.get('type')}}} is not modelled")
        obj = inner.get("object")
        if not isinstance(obj, dict) or obj.get("type") not in POST_TYPES:
            raise Refused("the Create carries no post or comment")
        if obj.get("inReplyTo"):
            community = await self._comment_community(obj)
        else:
            community = await self._post_community(obj)
        if community not in self.followed:
            # can_accept_activity_in_community: a remote community needs a local follower
            raise Refused(f"community {community} has no follower here")
        if not _public(announce):
            raise Refused("Announce not public (verify_visibility)")
        await self._verify_author(inner, obj)
        if obj.get("inReplyTo"):
            parent = _ids(obj.get("inReplyTo"))[0]
            post = parent if parent in self.posts else self.comments.get(parent)
            if post is None:
                post = await self._fetch_parent_post(parent)
            self.comments[obj["id"]] = post
            return f"comment on {post}"
        if not obj.get("name"):
            raise Refused("a post needs a name")  # from_json takes a first line only
        if inner["type"] == "Update":
            self.edits += 1
        self.posts[obj["id"]] = community
        self.titles[obj["id"]] = str(obj["name"])
        return f"post in {community}"

    async def read_featured(self, community: str) -> list[str]:
        """objects/src/objects/community.rs → ``ApubCommunityFeatured``: when Lemmy
        refreshes a community it reads its ``featured`` collection; each item must pass
        as a post of that community (same checks as a received one). Returns the posts
        it marks featured."""
        group = await self.fetch(community)
        collection = await self.fetch(str(group["featured"]))
        marked = []
        for page in collection.get("orderedItems", []):
            if not isinstance(page, dict) or page.get("inReplyTo"):
                raise Refused("a featured item is not an embedded post")
            if await self._post_community(page) != community:
                raise Refused(f"featured post {page.get('id')} is in another community")
            if not _public(page):
                raise Refused("featured post not public")
            await self._verify_creator(page)
            self.posts[page["id"]] = community
            marked.append(str(page["id"]))
        return marked

    async def _post_community(self, page: dict[str, Any]) -> str:
        """protocol/page.rs ``InCommunity for Page``: ``audience`` if given, else the
        first Group among ``to`` and ``cc``."""
        audience = _ids(page.get("audience"))
        if audience:
            return audience[0]
        for candidate in _ids(page.get("to")) + _ids(page.get("cc")):
            if candidate in PUBLIC_FORMS:
                continue
            try:
                doc = await self.fetch(candidate)
            except Exception:
                continue
            if doc.get("type") == "Group":
                return candidate
        raise Refused("no community found in audience, to or cc")

    async def _comment_community(self, note: dict[str, Any]) -> str:
        """protocol/note.rs ``InCommunity for Note``: ``audience`` if given, else the
        community of the post it belongs to."""
        audience = _ids(note.get("audience"))
        if audience:
            return audience[0]
        parent = _ids(note.get("inReplyTo"))[0]
        post = parent if parent in self.posts else self.comments.get(parent)
        if post is None:
            post = await self._fetch_parent_post(parent)
        return self.posts[post]

    async def _fetch_parent_post(self, parent: str) -> str:
        """A parent Lemmy lacks is fetched and must itself pass as a post (a chain of
        comments is not modelled)."""
        doc = await self.fetch(parent)
        if doc.get("inReplyTo"):
            raise Refused(f"parent {parent} is a comment Lemmy does not have")
        community = await self._post_community(doc)
        await self._verify_creator(doc)
        self.posts[parent] = community
        self.titles[parent] = str(doc.get("name") or "")
        return parent

    async def _verify_author(self, inner: dict[str, Any], obj: dict[str, Any]) -> None:
        """create_or_update/{post,comment}.rs: the actor is the object's author, on the
        object's host, and a person (verify_person_in_community dereferences it as one)."""
        actor = _ids(inner.get("actor"))
        creator = _ids(obj.get("attributedTo"))
        if not actor or not creator or actor[0] != creator[0]:
            raise Refused(f"actor {actor} is not the author {creator} (verify_urls_match)")
        if _host(actor[0]) != _host(obj["id"]):
            raise Refused("actor and object on different hosts (verify_domains_match)")
        if not _public(obj):
            raise Refused("object not public (verify_visibility)")
        await self._verify_creator(obj)

    async def _verify_creator(self, obj: dict[str, Any]) -> None:
        creator = _ids(obj.get("attributedTo"))
        if not creator:
            raise Refused("no attributedTo")
        doc = await self.fetch(creator[0])
        if doc.get("type") not in PERSON_TYPES:
            raise Refused(f"creator is a {doc.get('type')}, not a person (UserTypes)")
