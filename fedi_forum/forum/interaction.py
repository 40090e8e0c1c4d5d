"""Reply from your own server: a visitor types their handle (``@me@their.server``); we
ask their server (WebFinger, through the SSRF guard) where it lets its users interact
with a remote post, and send them there with our note's URL filled in.

Templates tried, in order: FEP-3b86 ``Create`` intent (``{inReplyTo}``, ``{content}``),
the OStatus subscribe template (``{uri}``, what Mastodon offers as
``/authorize_interaction``). Without either, the caller shows copy-and-search steps.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import quote, urlsplit

from fedi_forum.errors import FediForumError, InvalidInput
from fedi_forum.federation import dereference
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import FederationClient

HANDLE_RE = re.compile(r"@?([A-Za-z0-9_.~-]{1,64})@([A-Za-z0-9.-]{1,253}(?::\d{1,5})?)")
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"
FEP_3B86_CREATE = "https://w3id.org/fep/3b86/Create"


def parse_handle(raw: str) -> tuple[str, str]:
    """``@user@host`` (attacker-controlled) → (user, host), or InvalidInput."""
    match = HANDLE_RE.fullmatch(raw.strip())
    if match is None:
        raise InvalidInput(f"bad handle {raw!r}", public_message="type it as @name@server")
    return match.group(1), match.group(2).lower()


@dataclasses.dataclass(frozen=True, slots=True)
class Destination:
    """Where to send the visitor; ``same_host`` is False when the template points away
    from the server the handle names (and the one its WebFinger answered from): the page
    then shows the address before the visitor leaves, instead of redirecting."""

    url: str
    same_host: bool


async def interaction_url(
    client: FederationClient, blocklist: Blocklist, handle: str, note_url: str, mention: str
) -> Destination | None:
    """Where the visitor's own server lets them reply to ``note_url``; None when their
    server offers no template (or cannot be asked). The template is attacker-controlled:
    anyone can publish a WebFinger answer whose template points at a phishing page."""
    user, host = parse_handle(handle)
    scheme = "http" if client.policy.allow_loopback else "https"
    try:
        fetched = await dereference.webfinger(client, blocklist, user, host)
    except FediForumError:
        return None
    links = fetched.document.get("links")
    templates: dict[str, str] = {}
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and isinstance(link.get("template"), str):
            templates.setdefault(str(link.get("rel")), link["template"])
    chosen = None
    if FEP_3B86_CREATE in templates:
        chosen = (
            templates[FEP_3B86_CREATE]
            .replace("{inReplyTo}", quote(note_url, safe=""))
            .replace("{content}", quote(mention + " ", safe=""))
        )
    elif SUBSCRIBE in templates:
        chosen = templates[SUBSCRIBE].replace("{uri}", quote(note_url, safe=""))
    if chosen is None or not chosen.startswith(("https://", f"{scheme}://")):
        return None  # never send a visitor to javascript: or anything else
    target = urlsplit(chosen).netloc.lower()
    return Destination(chosen, target in (host, urlsplit(fetched.url).netloc.lower()))
