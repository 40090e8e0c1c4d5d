"""The shapes of the JSON documents we publish, as ``TypedDict``s (``@context`` is not an
identifier, so the functional form), and the one table of ``@context`` values: AS_NS for
activities and collections, ACTOR_CONTEXT for actors, OBJECT_CONTEXT for notes. Built
only by ``vocab``; mypy checks every key and value type there."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

Context = str | list[Any]


class PublicKey(TypedDict):
    id: str
    owner: str
    publicKeyPem: str


Actor = TypedDict(
    "Actor",
    {
        "@context": Context,
        "id": str,
        "type": str,  # Group, Person, Application
        "preferredUsername": str,
        "name": str,
        "url": str,
        "inbox": str,
        "outbox": str,
        "endpoints": dict[str, str],
        "publicKey": PublicKey,
        "manuallyApprovesFollowers": bool,
        "discoverable": bool,
        "indexable": bool,
        "summary": NotRequired[str],
        "followers": NotRequired[str],
        "following": NotRequired[str],
        "featured": NotRequired[str],
        "icon": NotRequired[dict[str, str]],
        "image": NotRequired[dict[str, str]],
        "published": NotRequired[str],
        "updated": NotRequired[str],
        "postingRestrictedToMods": NotRequired[bool],
        "webfinger": NotRequired[str],
        "nameMap": NotRequired[dict[str, str]],
    },
)
NoteDoc = TypedDict(
    "NoteDoc",
    {
        "@context": Context,
        "id": str,
        "type": str,
        "attributedTo": str,
        "content": str,
        "contentMap": dict[str, str],
        "published": str,
        "url": str,
        "to": list[str],
        "cc": list[str],
        "audience": str,
        "context": str,
        "inReplyTo": str | None,
        "sensitive": bool,
        "tag": list[dict[str, str]],
        "name": NotRequired[str],  # the opening post's title, for forum servers
        "summary": NotRequired[str],  # the opening Article's excerpt (never a CW here)
        "replies": NotRequired[str],
        "updated": NotRequired[str],
        "source": NotRequired[dict[str, str]],
    },
)
Activity = TypedDict(
    "Activity",
    {
        "@context": NotRequired[Context],  # absent only when embedded in an Announce
        "id": str,
        "type": str,
        "actor": str,
        "object": Any,  # an id, an object, or an activity (received ones verbatim)
        "to": NotRequired[list[str]],
        "cc": NotRequired[list[str]],
        "published": NotRequired[str],
        "audience": NotRequired[str],
        "content": NotRequired[str],  # a Flag's comment
    },
)
CollectionPage = TypedDict(
    "CollectionPage",
    {
        "@context": NotRequired[Context],  # absent when inline in its collection
        "id": str,
        "type": str,
        "partOf": str,
        "orderedItems": list[Any],
        "next": NotRequired[str],
        "prev": NotRequired[str],
    },
)
Collection = TypedDict(
    "Collection",
    {
        "@context": Context,
        "id": str,
        "type": str,
        "totalItems": NotRequired[int],
        "orderedItems": NotRequired[list[Any]],
        "first": NotRequired[str | CollectionPage],
        "last": NotRequired[str],
        "attributedTo": NotRequired[str],  # a context collection names its group
        "audience": NotRequired[str],
    },
)
Tombstone = TypedDict(
    "Tombstone",
    {"@context": Context, "id": str, "type": str, "formerType": str, "deleted": str},
)

AS_NS = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
SECURITY_NS = "https://w3id.org/security/v1"

ACTOR_CONTEXT: list[Any] = [
    AS_NS,
    SECURITY_NS,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "lemmy": "https://join-lemmy.org/ns#",
        "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
    },
]
OBJECT_CONTEXT: list[Any] = [AS_NS, {"sensitive": "as:sensitive"}]
