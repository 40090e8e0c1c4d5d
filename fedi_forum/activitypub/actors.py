"""Builders for the actor documents we publish: discussions and categories (Group),
the instance (Application), staff and imported authors (Person). Pure: values in,
typed dicts out; shapes as Mastodon requires them (docs/rules.md §3, §15)."""

from __future__ import annotations

from fedi_forum.activitypub.shapes import ACTOR_CONTEXT, Actor, PublicKey
from fedi_forum.activitypub.urls import Urls


def public_key(actor_id: str, pem: str) -> PublicKey:
    return {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": pem}


def group_actor(
    urls: Urls,
    *,
    slug: str,
    domain: str,
    title: str,
    summary_html: str,
    public_key_pem: str,
    published: str,
    updated: str,
    restricted: bool,
    icon_url: str,
    header_url: str | None = None,
) -> Actor:
    """A discussion as a Group actor (docs/rules.md §3).

    ``restricted`` (locked or closed) tells forum servers that replies are refused. The
    icon is a PNG, a header (``image``, Mastodon's banner) a JPEG.
    """
    actor_id = urls.group(slug)
    actor: Actor = {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Group",
        "preferredUsername": slug,
        "name": title,
        "summary": summary_html,
        "url": actor_id,
        "inbox": urls.inbox(slug),
        "outbox": urls.outbox(slug),
        "followers": urls.followers(slug),
        "following": urls.following(slug),
        "featured": urls.featured(slug),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": public_key(actor_id, public_key_pem),
        "icon": {"type": "Image", "mediaType": "image/png", "url": icon_url},
        "published": published,
        "updated": updated,
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "postingRestrictedToMods": restricted,
        "webfinger": f"{slug}@{domain}",
    }
    if header_url:
        actor["image"] = {"type": "Image", "mediaType": "image/jpeg", "url": header_url}
    return actor


def category_actor(
    urls: Urls,
    *,
    slug: str,
    domain: str,
    name: str,
    summary_html: str,
    public_key_pem: str,
    published: str,
    updated: str,
    icon_url: str,
    restricted: bool,
) -> Actor:
    """A category (or the forum-wide actor) as a Group (docs/categories.md): followed
    like a discussion, it boosts each new discussion's opening post; a post that
    mentions it may start one, unless ``restricted`` (its posting rule is closed)."""
    actor_id = urls.category(slug)
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Group",
        "preferredUsername": slug,
        "name": name,
        "summary": summary_html,
        "url": actor_id,
        "inbox": urls.category_inbox(slug),
        "outbox": urls.category_outbox(slug),
        "followers": urls.category_followers(slug),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": public_key(actor_id, public_key_pem),
        "icon": {"type": "Image", "mediaType": "image/png", "url": icon_url},
        "published": published,
        "updated": updated,
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "postingRestrictedToMods": restricted,
        "webfinger": f"{slug}@{domain}",
    }


def instance_actor(urls: Urls, *, domain: str, name: str, public_key_pem: str) -> Actor:
    """The Application actor that signs our fetches (docs/rules.md §2).

    Served without requiring a signature, which breaks the instance-actor fetch loop.
    """
    actor_id = urls.instance_actor
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Application",
        "preferredUsername": domain,
        "name": name,
        "url": urls.about,
        "inbox": urls.shared_inbox,
        "outbox": f"{actor_id}/outbox",
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": public_key(actor_id, public_key_pem),
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "indexable": False,
    }


def person_actor(
    urls: Urls,
    *,
    actor_id: str,
    username: str,
    domain: str,
    name: str,
    public_key_pem: str,
    published: str,
    name_map: dict[str, str] | None = None,
) -> Actor:
    """A local person: a staff member (moderator or facilitator) who can reply in
    discussions, or an author an archive import brought in (read-only: their inbox
    takes nothing but is there because Mastodon requires one)."""
    actor: Actor = {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Person",
        "preferredUsername": username,
        "name": name,
        "summary": "",
        "url": urls.about,
        "inbox": f"{actor_id}/inbox",
        "outbox": f"{actor_id}/outbox",
        "followers": f"{actor_id}/followers",
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": public_key(actor_id, public_key_pem),
        "icon": {"type": "Image", "mediaType": "image/png", "url": urls.static("group-icon.png")},
        "published": published,
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "indexable": False,
        "webfinger": f"{username}@{domain}",
    }
    if name_map:
        actor["nameMap"] = name_map
    return actor
