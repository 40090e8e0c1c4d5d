"""Pure parts of delivery: the per-host breaker and slow start, the lane subject of an
activity, and who may free whose leases."""

from __future__ import annotations

import os
import subprocess
import sys

from fedi_forum.activitypub import vocab
from fedi_forum.federation import hosts, liveness
from fedi_forum.federation.hosts import HostHealth
from fedi_forum.store.workers import WorkerRow


def test_slow_start_then_full_concurrency() -> None:
    health = HostHealth()
    assert health.limit("a.example", 0) == hosts.START  # never heard of: two at once
    assert "a.example" not in health.troubled()
    for i in range(hosts.PER_HOST):
        health.answered("a.example", i)
    assert health.limit("a.example", 10) == hosts.PER_HOST
    assert "a.example" not in health.troubled()  # the claim's default covers it


def test_breaker_opens_after_failures_in_a_row_and_half_opens_after_cooldown() -> None:
    health = HostHealth()
    health.answered("b.example", 0)
    for i in range(hosts.THRESHOLD - 1):
        health.failed("b.example", 1 + i, unanswered=False)
    assert health.limit("b.example", 10) > 0  # not yet
    health.failed("b.example", 10, unanswered=True)
    assert health.limit("b.example", 11) == 0
    assert "b.example" in health.troubled()
    assert health.limit("b.example", 10 + hosts.COOLDOWN + 1) == 1  # one probe
    health.failed("b.example", 50, unanswered=True)  # the probe failed: longer cooldown
    assert health.limit("b.example", 50 + hosts.COOLDOWN + 1) == 0
    assert health.limit("b.example", 50 + 2 * hosts.COOLDOWN + 1) == 1
    health.answered("b.example", 200)  # an answer closes it
    assert health.limit("b.example", 200) == hosts.START + 1


def test_requests_in_flight_when_the_breaker_opens_do_not_lengthen_its_cooldown() -> None:
    """A server goes down with PER_HOST requests in flight: they all fail at once. One
    incident, one cooldown (the multi-host test once waited 4 minutes for 30 s)."""
    health = HostHealth()
    health.answered("d.example", 0)
    for _ in range(hosts.PER_HOST):
        health.failed("d.example", 10, unanswered=False)
    assert health.limit("d.example", 10 + hosts.COOLDOWN + 1) == 1  # one probe, on time
    health.failed("d.example", 45, unanswered=False)  # the probe failed: now it doubles
    assert health.limit("d.example", 45 + hosts.COOLDOWN + 1) == 0
    assert health.limit("d.example", 45 + 2 * hosts.COOLDOWN + 1) == 1


def test_silent_servers_get_short_timeouts_until_they_answer() -> None:
    health = HostHealth()
    assert health.timeout("c.example") == hosts.NORMAL_TIMEOUT
    health.failed("c.example", 0, unanswered=False)  # a 500 is an answer of sorts
    assert health.timeout("c.example") == hosts.NORMAL_TIMEOUT
    health.failed("c.example", 1, unanswered=True)
    assert health.timeout("c.example") == hosts.SHORT_TIMEOUT
    health.answered("c.example", 2)
    assert health.timeout("c.example") == hosts.NORMAL_TIMEOUT


def test_an_activity_is_blamed_only_if_the_server_answered_others_meanwhile() -> None:
    health = HostHealth()
    assert not health.blames_activity("d.example", sent_at=0)  # never answered anything
    health.answered("d.example", 5)
    assert health.blames_activity("d.example", sent_at=4)  # answered while it waited
    assert not health.blames_activity("d.example", sent_at=6)  # silent since: it is down


def test_subject_unwraps_to_the_object_an_activity_is_about() -> None:
    note = "https://b.example/notes/1"
    group = "https://forum.example/d/park"
    assert vocab.subject_of({"id": "x", "type": "Announce", "object": note}) == note
    create = {"id": "c", "type": "Create", "object": {"id": note, "type": "Note"}}
    assert vocab.subject_of({"id": "a", "type": "Announce", "object": create}) == note
    update = {"id": "u", "type": "Update", "object": {"id": note, "type": "Note"}}
    assert vocab.subject_of({"id": "a2", "type": "Announce", "object": update}) == note
    delete = {"id": "d", "type": "Delete", "object": {"id": note, "type": "Tombstone"}}
    assert vocab.subject_of({"id": "a3", "type": "Announce", "object": delete}) == note
    follow = {"id": "f", "type": "Follow", "actor": "https://b.example/u", "object": group}
    assert vocab.subject_of(follow) == group
    assert vocab.subject_of({"id": "undo", "type": "Undo", "object": follow}) == group
    flag = {"id": "flag", "type": "Flag", "object": [note, "https://b.example/u"]}
    assert vocab.subject_of(flag) == "flag"  # about several things: its own lane


def _row(worker_id: str, machine: str, pid: int, boot: str) -> WorkerRow:
    return WorkerRow(worker_id, machine, pid, boot, "t", "t")


def test_gone_workers_are_the_ones_this_machine_can_prove_dead() -> None:
    me = liveness.this_worker("2026-11-29T00:00:00Z")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    start = liveness.process_start(os.getppid())
    assert start is not None
    parent, machine = os.getppid(), me.machine
    alive_parent = _row(f"{machine}:{parent}:{start}", machine, parent, me.boot_id)
    dead = _row(f"{machine}:{child.pid}:123", machine, child.pid, me.boot_id)
    reused = _row(f"{machine}:{parent}:1", machine, parent, me.boot_id)
    rebooted = _row(f"{machine}:{parent}:{start}:old", machine, parent, "old")
    elsewhere = _row("other:1:1", "other", 1, "x")
    found = liveness.gone([me, alive_parent, dead, reused, rebooted, elsewhere], me)
    assert found == [dead.id, reused.id, rebooted.id]
