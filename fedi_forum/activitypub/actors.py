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
    actor = _group(
        urls,
        urls.group(slug),
        slug=slug,
        domain=domain,
        name=title,
        summary_html=summary_html,
        collections=(urls.inbox(slug), urls.outbox(slug), urls.followers(slug)),
        public_key_pem=public_key_pem,
        published=published,
        updated=updated,
        icon_url=icon_url,
        restricted=restricted,
    )
    actor["following"] = urls.following(slug)
    actor["featured"] = urls.featured(slug)
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
    actor = _group(
        urls,
        urls.category(slug),
        slug=slug,
        domain=domain,
        name=name,
        summary_html=summary_html,
        collections=(
            urls.category_inbox(slug),
            urls.category_outbox(slug),
            urls.category_followers(slug),
        ),
        public_key_pem=public_key_pem,
        published=published,
        updated=updated,
        icon_url=icon_url,
        restricted=restricted,
    )
    actor["featured"] = urls.category_featured(slug)
    return actor


def _group(
    urls: Urls,
    actor_id: str,
    *,
    slug: str,
    domain: str,
    name: str,
    summary_html: str,
    collections: tuple[str, str, str],  # inbox, outbox, followers
    public_key_pem: str,
    published: str,
    updated: str,
    icon_url: str,
    restricted: bool,
) -> Actor:
    """What every Group of ours says: discussions and categories alike."""
    inbox, outbox, followers = collections
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Group",
        "preferredUsername": slug,
        "name": name,
        "summary": summary_html,
        "url": actor_id,
        "inbox": inbox,
        "outbox": outbox,
        "followers": followers,
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
