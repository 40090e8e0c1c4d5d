"""Authors an archive import brought in (docs/ning.md): how they are named and shown.
Their rows are ``store.imports``'; their Person documents ``Discussions.member_document``."""

from __future__ import annotations

from fedi_forum.store.imports import MemberRow


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
