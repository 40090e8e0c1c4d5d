"""Moderators are mailed about new reports and held replies: batched, through a real
SMTP server (aiosmtpd on 127.0.0.1), never with the reporter's contact or comment."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import subprocess
import sys
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fedi_forum.federation.mail import SmtpMailer
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.notifications import Notifier
from tests.conftest import Live
from tests.support.live import bind_loopback
from tests.support.process import clean_env
from tests.support.remote import RemoteServer


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[str, _Inbox]]:
    sock = bind_loopback()
    port = int(sock.getsockname()[1])
    sock.close()
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


def _notifier(live: Live, url: str, **settings: Any) -> Notifier:
    s = dataclasses.replace(
        live.settings, smtp_url=url, moderation_email="moderatie@gemeente.example", **settings
    )
    return Notifier(s, live.store, SmtpMailer(url, "forum@gemeente.example"))


async def _reply_and_report(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Het park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    note = alice.note("grof taalgebruik", in_reply_to=f"{group}/m/0", mention=group)
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    await live.client.post(
        "/d/park/m/1/report",
        data={"reason": "respect", "comment": "geheim commentaar", "contact": "melder@x.nl"},
    )


async def test_new_reports_and_held_replies_are_mailed_once_in_a_batch(
    live: Live, remote: RemoteServer
) -> None:
    await _reply_and_report(live, remote)
    await live.discussions.set_premoderate("park", True)
    bob = remote.actor("bob", key_index=1)
    group = f"{live.base_url}/d/park"
    for text in ("eerste", "tweede"):
        note = bob.note(text, in_reply_to=f"{group}/m/0", mention=group)
        assert (await bob.post(live.client, f"{group}/inbox", bob.create(note))).status_code == 202
    with smtp_server() as (url, inbox):
        notifier = _notifier(live, url)
        assert await notifier.run_once()
        assert not await notifier.run_once()  # nothing new: no second mail
        await asyncio.sleep(0.2)
        assert len(inbox.messages) == 1
        mail = inbox.messages[0]
        assert mail["To"] == "moderatie@gemeente.example"
        assert (
            mail["Subject"] == "[Testforum] 1 nieuwe melding en 2 reacties wachten op goedkeuring"
        )
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "- Het park (niet respectvol)" in body
        assert f"{live.base_url}/admin/reports" in body
        assert "- Het park #2" in body
        assert "- Het park #3" in body
        assert f"{live.base_url}/admin/replies?state=held" in body
        for private in ("melder@x.nl", "geheim commentaar", "grof taalgebruik", "eerste"):
            assert private not in body  # behind the login, not in a mailbox
        # a second process holding the same batch does not send it again
        other = _notifier(live, url)
        await live.client.post("/d/park/m/1/report", data={"reason": "spam"})
        first, second = await asyncio.gather(notifier.run_once(), other.run_once())
        assert sorted([first, second]) == [False, True]
        await asyncio.sleep(0.2)
        assert len(inbox.messages) == 2


async def test_proposed_discussions_are_mailed_with_their_title_only(
    live: Live, remote: RemoteServer
) -> None:
    await Categories(live.settings, live.store, live.discussions.keyring).create(
        slug="verkeer", name="Verkeer"
    )
    category = f"{live.base_url}/c/verkeer"
    alice = remote.actor("alice")
    post = alice.note("Drempels<br>geheime details", mention=category)
    assert (await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))).is_success
    with smtp_server() as (url, inbox):
        assert await _notifier(live, url).run_once()
        assert not await _notifier(live, url).run_once()
        await asyncio.sleep(0.2)
        mail = inbox.messages[0]
        assert mail["Subject"] == "[Testforum] 1 voorgestelde discussie"
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "- Drempels (@verkeer)" in body
        assert f"{live.base_url}/admin/proposals" in body
        assert "geheime details" not in body


async def test_a_mail_server_that_is_down_loses_nothing(live: Live, remote: RemoteServer) -> None:
    await _reply_and_report(live, remote)
    sock = bind_loopback()
    closed = f"smtp://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there
    with pytest.raises(OSError):
        await _notifier(live, closed).run_once()
    with smtp_server() as (url, inbox):
        assert await _notifier(live, url).run_once()  # the same report, sent now
        await asyncio.sleep(0.2)
        assert len(inbox.messages) == 1


async def test_the_worker_process_mails_the_moderators(live: Live, remote: RemoteServer) -> None:
    """The real `fedi-forum worker` with FEDI_FORUM_SMTP_URL set: the mail arrives."""
    await _reply_and_report(live, remote)
    with smtp_server() as (url, inbox):
        env = clean_env(
            FEDI_FORUM_SMTP_URL=url,
            FEDI_FORUM_MODERATION_EMAIL="moderatie@gemeente.example",
            FEDI_FORUM_NOTIFY_SECONDS="5",
            FEDI_FORUM_ALLOW_LOOPBACK="1",
        )
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "fedi_forum", "worker", *live.cli_options),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(30):
                while not inbox.messages:
                    await asyncio.sleep(0.2)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)
        assert "1 nieuwe melding" in inbox.messages[0]["Subject"]
