"""The people of a forum as actors: authors an archive import brought in (docs/ning.md)
— how they are named and shown — and staff. Their rows are ``store.imports``' and
``store.staff``'s; here their Person documents."""

from __future__ import annotations

from fedi_forum.activitypub import actors, keys
from fedi_forum.activitypub.shapes import Actor
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.store.imports import MemberRow
from fedi_forum.store.keyring import Keyring
from fedi_forum.store.staff import StaffMember


def initials(full_name: str) -> str:
    """ "Lotte van der Linden" → "L.v.d.L."."""
    return "".join(f"{part[0]}." for part in full_name.split() if part[0].isalnum())


def member_name(member: MemberRow, lang: str) -> str:
    """How an imported author is shown: their name when the import named them, else a
    stable number ("former member 17"; "unknown member 18" for one the members file
    lacked)."""
    if member.name:
        return member.name
    if not member.known:
        return (
            f"onbekend lid {member.number}" if lang == "nl" else f"unknown member {member.number}"
        )
    return f"oud-lid {member.number}" if lang == "nl" else f"former member {member.number}"


def staff_key_name(username: str) -> str:
    """The key of a staff member's Person actor (made when first needed)."""
    return f"staff-{username}"


async def staff_document(
    settings: Settings, urls: Urls, keyring: Keyring, member: StaffMember
) -> Actor:
    """A staff member as a Person (they write replies and opening posts)."""
    key = await keyring.load_or_create(staff_key_name(member.username))
    return actors.person_actor(
        urls,
        actor_id=urls.staff(member.username),
        username=member.username,
        domain=settings.domain,
        name=member.shown_name,
        public_key_pem=keys.public_pem(key),
        published=member.created_at,
    )


async def member_document(
    settings: Settings, urls: Urls, keyring: Keyring, member: MemberRow
) -> Actor:
    """An author an archive import brought in: a read-only Person whose key is made
    the first time a server asks (so the import makes none for thousands)."""
    key = await keyring.load_or_create(f"member-{member.handle}")
    return actors.person_actor(
        urls,
        actor_id=urls.member(member.handle),
        username=member.handle,
        domain=settings.domain,
        name=member_name(member, settings.default_lang),
        name_map={lang: member_name(member, lang) for lang in LANGUAGES},
        public_key_pem=keys.public_pem(key),
        published=member.created_at,
    )
