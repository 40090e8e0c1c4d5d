"""Fetching with checks, shared: WebFinger lookups (one URL shape, the blocklist, the
JRD content type) and the named trust policies for an embedded copy of a note.

The address guard, redirects, size caps and the id == URL rule are the client's
(client.py); what may be believed without a fetch is decided by a policy named here,
not by a bare flag at the call site."""

from __future__ import annotations

import enum
from urllib.parse import quote

from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import JRD_ACCEPT, FederationClient, Fetched


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
