"""Fetching with checks, in one place: every document we GET from another server goes
through ``document`` (the blocklist, then the client's address guard, redirects and size
caps), and the identity rules of what came back are here — an actor is the document at
its own id (``actor``), a note is at its own id on its author's host (``note``),
WebFinger has one URL shape and the JRD content type (``webfinger``), NodeInfo is
read only for the software's name and version (``software``). What may be
believed without a fetch is decided by a named ``Trust`` policy, not by a bare flag at
the call site (FEDERATION.md "Identity and origin"). Every input here is
attacker-controlled: URLs come from keyIds, activities and remote documents."""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import quote

from fedi_forum.activitypub import parse
from fedi_forum.errors import InvalidActivity, KeyFetchFailed
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import JRD_ACCEPT, FederationClient, Fetched
from fedi_forum.models import utcnow


class Trust(enum.Enum):
    """When an embedded copy of a note may be used instead of fetching it from its
    origin (FEDERATION.md "Identity and origin")."""

    # only when the signer wrote it: anything else is fetched (GoToSocial's rule)
    SIGNER = "signer"
    # also when the signer's server hosts it: a group we follow vouches for the posts
    # on its own server (Lemmy sends its members' posts inside its Announce)
    SIGNERS_SERVER = "signers-server"


def webfinger_url(client: FederationClient, user: str, host: str) -> str:
    """The WebFinger URL for ``user@host`` (https; http only in loopback test mode).
    Both parts are attacker-controlled: they are quoted."""
    scheme = "http" if client.policy.allow_loopback else "https"
    return f"{scheme}://{host}/.well-known/webfinger?resource=acct:{quote(user)}@{quote(host)}"


async def webfinger(
    client: FederationClient, blocklist: Blocklist, user: str, host: str
) -> Fetched:
    """``user@host``'s WebFinger answer (JRD), through the blocklist and the guard.
    Raises FetchError (or Blocked) when it cannot be had."""
    url = webfinger_url(client, user, host)
    blocklist.check_url(url)
    return await client.get_json(url, accept=JRD_ACCEPT)


async def document(client: FederationClient, blocklist: Blocklist, url: str) -> Fetched:
    """The JSON-LD document at ``url``: refused for a blocked server before any request,
    then fetched through the guard. Raises Blocked or FetchError."""
    blocklist.check_url(url)
    return await client.get_json(url)


def actor(fetched: Fetched, actor_id: str) -> parse.ParsedActor:
    """The actor ``actor_id`` from what its URL answered: the document must say it is
    that id, and no redirect may have moved it (else anyone could answer for anyone)."""
    try:
        parsed = parse.parse_actor(fetched.document, utcnow())
    except InvalidActivity as exc:
        raise KeyFetchFailed(f"bad actor document at {actor_id}") from exc
    if parsed.actor.id != fetched.url or fetched.url != actor_id:
        raise KeyFetchFailed(f"actor id does not match {actor_id}")
    return parsed


def note(fetched: Fetched, object_id: str) -> tuple[dict[str, Any], str]:
    """The note ``object_id`` from what its URL answered, and its author's id: the
    document must be at its own id, and its author must live on the same host."""
    doc = fetched.document
    if parse.id_of(doc.get("id")) != object_id or fetched.url != object_id:
        raise InvalidActivity(f"fetched object is not {object_id}")
    author_id = parse.parse_note(doc).attributed_to
    if author_id is None or parse.host_of(author_id) != parse.host_of(object_id):
        raise InvalidActivity("note attributed to another host")
    return doc, author_id


NODEINFO_2 = "http://nodeinfo.diaspora.software/ns/schema/2"


async def software(client: FederationClient, url: str) -> tuple[str | None, str | None]:
    """(software name, version) of the server at ``url``'s origin from its NodeInfo 2.x,
    each cut to 64 characters; (None, None) when it publishes none. Raises FetchError."""
    scheme, _, authority = url.split("/", 3)[:3]
    base = f"{scheme}//{authority}"
    links = (await client.get_json(f"{base}/.well-known/nodeinfo", accept=JRD_ACCEPT)).document
    hrefs = [
        str(link.get("href"))
        for link in links.get("links", [])
        if isinstance(link, dict) and str(link.get("rel", "")).startswith(NODEINFO_2)
    ]
    href = next((h for h in sorted(hrefs, reverse=True) if parse.is_http_url(h)), None)
    if href is None:
        return None, None
    doc = (await client.get_json(href, accept=JRD_ACCEPT)).document
    found = doc.get("software")
    if not isinstance(found, dict):
        return None, None
    name, version = found.get("name"), found.get("version")
    return (
        name.lower()[:64] if isinstance(name, str) else None,
        version[:64] if isinstance(version, str) else None,
    )
