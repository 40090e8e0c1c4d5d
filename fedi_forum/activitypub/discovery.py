"""Discovery documents: WebFinger, host-meta and NodeInfo (docs/rules.md §4). Pure:
values in, documents out. The ActivityStreams documents are in vocab.py."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

NODEINFO_REL = "http://nodeinfo.diaspora.software/ns/schema/{version}"
SOFTWARE_NAME = "fedi-forum"
REPOSITORY = "https://github.com/fedi-forum/fedi-forum"


def webfinger(subject: str, actor_id: str, profile_url: str, aliases: list[str]) -> dict[str, Any]:
    base = actor_id.split("/", 3)
    interact = f"{base[0]}//{base[2]}/authorize_interaction?uri={{uri}}"
    return {
        "subject": subject,
        "aliases": aliases,
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": actor_id},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": profile_url,
            },
            # remote interaction, for others' users (web/interaction.py)
            {"rel": "http://ostatus.org/schema/1.0/subscribe", "template": interact},
        ],
    }


def host_meta(base_url: str) -> str:
    template = quoteattr(f"{base_url}/.well-known/webfinger?resource={{uri}}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template={template}/>\n'
        "</XRD>\n"
    )


def nodeinfo_links(base_url: str) -> dict[str, Any]:
    return {
        "links": [
            {"rel": NODEINFO_REL.format(version=v), "href": f"{base_url}/nodeinfo/{v}"}
            for v in ("2.0", "2.1")
        ]
    }


def nodeinfo(
    version: str,
    *,
    software_version: str,
    name: str,
    discussions: int,
    local_posts: int,
    replies: int,
) -> dict[str, Any]:
    """NodeInfo 2.0/2.1. Usage is honest: we have no local user accounts, so users are 0;
    posts are the opening posts we published, comments the replies we accepted."""
    software: dict[str, Any] = {"name": SOFTWARE_NAME, "version": software_version}
    if version == "2.1":
        software["repository"] = REPOSITORY
        software["homepage"] = REPOSITORY
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["rss2.0", "atom1.0"]},
        "openRegistrations": False,
        "usage": {
            "users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0},
            "localPosts": local_posts,
            "localComments": 0,
        },
        "metadata": {"nodeName": name, "discussions": discussions, "replies": replies},
    }
