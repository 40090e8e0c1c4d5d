"""Route parameter convertors: every number and every action in a URL is checked by the
router, once, for every route, so a handler never sees an out-of-range integer (SQLite
overflows past 2**63 - 1: a 500) or an action outside its closed set (an unknown action
must be a 404, never a KeyError and never another action)."""

from __future__ import annotations

from typing import Any

from starlette.convertors import Convertor, register_url_convertor

from fedi_forum.models import NoteAction

MAX_ID = 2**63 - 1  # SQLite's INTEGER; PostgreSQL's BIGINT


class BoundedInt(Convertor[int]):
    """A non-negative integer that fits a 64-bit signed column (at most 18 digits, so a
    longer one simply matches no route: 404)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value <= MAX_ID:
            raise ValueError(f"{value} out of range")
        return str(value)


class _Choice(Convertor[str]):
    choices: frozenset[str] = frozenset()

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        if value not in self.choices:
            raise ValueError(f"{value!r} is not one of {sorted(self.choices)}")
        return value


def choice(*choices: str) -> Convertor[str]:
    """One of a closed set of words; anything else matches no route (404)."""
    regex = "|".join(sorted(choices, key=len, reverse=True))
    made: Convertor[str] = type(
        "Choice", (_Choice,), {"regex": regex, "choices": frozenset(choices)}
    )()
    return made


# name → convertor, registered by ``register()`` when the routes are built (not at import)
CONVERTORS: dict[str, Convertor[Any]] = {
    "id": BoundedInt(),
    "note_action": choice(*NoteAction),
    "report_action": choice("resolve", "dismiss", "forward"),
    "discussion_action": choice(
        "lock",
        "unlock",
        "close",
        "announce-on",
        "announce-off",
        "premoderate-on",
        "premoderate-off",
        "pin-on",
        "pin-off",
    ),
    "block_action": choice("add", "remove"),
    "remote_action": choice("follow", "unfollow"),
    "feed_kind": choice("rss", "atom"),
}


def register() -> None:
    for name, convertor in CONVERTORS.items():
        register_url_convertor(name, convertor)
