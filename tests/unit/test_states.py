"""States are declared once (models.py): every state has its row in its transition
table, the final ones lead nowhere, and the guarded UPDATEs read their 'from' states
from the tables."""

from __future__ import annotations

import enum

import pytest

from fedi_forum import models
from fedi_forum.models import (
    BackfillState,
    DeliveryState,
    DiscussionState,
    NoteState,
    RemoteGroupState,
    states_leading_to,
)

TABLES: list[tuple[type[enum.StrEnum], dict]] = [  # type: ignore[type-arg]
    (DiscussionState, models.DISCUSSION_TRANSITIONS),
    (NoteState, models.NOTE_TRANSITIONS),
    (DeliveryState, models.DELIVERY_TRANSITIONS),
    (BackfillState, models.BACKFILL_TRANSITIONS),
    (RemoteGroupState, models.REMOTE_FOLLOW_TRANSITIONS),
]


@pytest.mark.parametrize(("kind", "table"), TABLES)
def test_every_state_has_its_row_and_targets_are_states(kind, table) -> None:  # type: ignore[no-untyped-def]
    assert set(table) == set(kind)
    for targets in table.values():
        assert targets <= set(kind)


def test_final_states() -> None:
    assert models.DISCUSSION_TRANSITIONS[DiscussionState.DELETED] == frozenset()
    assert models.NOTE_TRANSITIONS[NoteState.DELETED] == frozenset()
    assert models.DELIVERY_TRANSITIONS[DeliveryState.DELIVERED] == frozenset()
    # sent again only by hand: from aside or dead, never from delivered
    assert states_leading_to(models.DELIVERY_TRANSITIONS, DeliveryState.PENDING) == (
        "aside",
        "dead",
    )
    assert states_leading_to(models.BACKFILL_TRANSITIONS, BackfillState.DONE) == ("pending",)
    assert states_leading_to(models.REMOTE_FOLLOW_TRANSITIONS, RemoteGroupState.ACCEPTED) == (
        "accepted",
        "pending",
    )
