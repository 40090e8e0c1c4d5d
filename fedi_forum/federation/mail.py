"""Mail out, over SMTP: the moderators' notifications (forum/notifications.py).

The server is the operator's (``FEDI_FORUM_SMTP_URL``), not input from the network, so
no address guard applies; the stdlib client runs in a thread (a few mails an hour do
not justify another dependency)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT = 20.0


class SmtpMailer:
    def __init__(self, url: str, sender: str) -> None:
        self._url = urlsplit(url)
        self.sender = sender

    async def send(self, to: list[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        u = self._url
        secure = u.scheme == "smtps"
        port = u.port or (465 if secure else 25)
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(
                u.hostname or "", port, timeout=TIMEOUT, context=ssl.create_default_context()
            )
            if secure
            else smtplib.SMTP(u.hostname or "", port, timeout=TIMEOUT)
        )
        with client:
            if not secure and parse_qs(u.query).get("starttls") == ["1"]:
                client.starttls(context=ssl.create_default_context())
            if u.username:
                client.login(unquote(u.username), unquote(u.password or ""))
            client.send_message(message)
