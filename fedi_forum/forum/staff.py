"""Staff accounts and their sessions: password hashing, login with lockout, signed
session tokens with a CSRF token inside.

* Passwords: scrypt (memory-hard, from ``cryptography``), n=2**15, r=8, p=1, a random
  16-byte salt; the parameters are stored with the hash so they can be raised later.
  Hashing runs in a thread: it costs ~0.1 s of CPU on purpose.
* Sessions: a token ``base64(json).base64(hmac)`` signed with a secret from the keys
  directory, carrying the username, the role, an expiry (8 h), the account's session
  epoch (logging out bumps it, ending every session of the account) and a CSRF token
  that every form must echo.
* Lockout: five failed logins in a row lock the account for 15 minutes (and the web
  layer rate-limits login attempts per client).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fedi_forum.errors import Conflict, Forbidden, InvalidInput, NotFound
from fedi_forum.models import RESERVED_SLUGS, SLUG_RE, format_time, parse_time, utcnow
from fedi_forum.store import Store

SESSION_SECONDS = 8 * 3600
LOCK_MINUTES = 15
ROLES = ("admin", "moderator")
MAX_DISPLAY_NAME = 60
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        password.encode()
    )
    parts = (
        "scrypt",
        str(SCRYPT_N),
        str(SCRYPT_R),
        str(SCRYPT_P),
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return "$".join(parts)


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        Scrypt(salt=base64.b64decode(salt), length=32, n=int(n), r=int(r), p=int(p)).verify(
            password.encode(), base64.b64decode(digest)
        )
    except (InvalidKey, ValueError):
        return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    username: str
    role: str
    csrf: str
    expires: int
    epoch: int


class Staff:
    def __init__(self, store: Store, secret: bytes) -> None:
        self.store = store
        self.secret = secret

    async def create(self, username: str, password: str, role: str) -> None:
        username = username.strip().lower()
        # Staff are actors too (@name@host): one namespace with the discussions.
        if not SLUG_RE.fullmatch(username) or username in RESERVED_SLUGS:
            raise InvalidInput("bad username", public_message="username: 1-30 of a-z 0-9 _")
        if await self.store.discussion(username) is not None:
            raise Conflict(f"{username} is a discussion", public_message="that name is taken")
        if role not in ROLES:
            raise InvalidInput("bad role", public_message=f"role: one of {ROLES}")
        if len(password) < 12:
            raise InvalidInput("short password", public_message="at least 12 characters")
        hashed = await asyncio.to_thread(hash_password, password)
        await self.store.create_staff(
            username=username, password_hash=hashed, role=role, now=utcnow()
        )

    async def login(self, username: str, password: str) -> Session | None:
        """A session, or None (wrong name or password, or locked: the answer is the same,
        so it does not tell which names exist)."""
        member = await self.store.staff(username.strip().lower())
        if member is None or member.disabled:
            await asyncio.to_thread(hash_password, password)  # same time as a real check
            return None
        now = datetime.now(UTC)
        if member.locked_until and parse_time(member.locked_until) > now:
            return None
        ok = await asyncio.to_thread(check_password, password, member.password_hash)
        await self.store.record_login(
            member.username,
            ok=ok,
            lock_until=format_time(now + timedelta(minutes=LOCK_MINUTES)),
        )
        if not ok:
            return None
        return Session(
            member.username,
            member.role,
            secrets.token_urlsafe(24),
            int(time.time()) + SESSION_SECONDS,
            member.session_epoch,
        )

    async def logout(self, session: Session) -> None:
        await self.store.end_sessions(session.username)

    def token(self, session: Session) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(dataclasses.asdict(session))).decode()
        return f"{body}.{self._mac(body)}"

    async def session(self, token: str | None) -> Session | None:
        """The session of a cookie (attacker-controlled): signature, expiry, and that the
        account still exists with the same epoch and role."""
        if not token or len(token) > 2048 or "." not in token:
            return None
        body, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            session = Session(**orjson.loads(base64.urlsafe_b64decode(body)))
        except (ValueError, TypeError):
            return None
        if session.expires < time.time():
            return None
        member = await self.store.staff(session.username)
        if member is None or member.session_epoch != session.epoch or member.role != session.role:
            return None
        return session  # disabling an account bumps its epoch: its sessions end here

    # -- the accounts (fedi-forum admin …, /admin/account) --------------------------------

    async def set_display_name(self, username: str, name: str) -> None:
        """The name shown on pages and on Mastodon ("" shows the user name)."""
        name = " ".join(name.split())
        if len(name) > MAX_DISPLAY_NAME or any(not c.isprintable() for c in name):
            raise InvalidInput(
                "bad display name", public_message=f"display name: at most {MAX_DISPLAY_NAME}"
            )
        await self._update(username, display_name=name)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """A disabled account cannot log in and its sessions end; its replies stay."""
        await self._update(username, disabled=disabled)

    async def set_password(self, username: str, password: str) -> None:
        """A new password (reset by an operator, or changed by its owner): every session
        of the account ends and a lock is lifted."""
        if len(password) < 12:
            raise InvalidInput("short password", public_message="at least 12 characters")
        hashed = await asyncio.to_thread(hash_password, password)
        await self._update(username, password_hash=hashed)

    async def change_own_password(self, session: Session, current: str, new: str) -> None:
        member = await self.store.staff(session.username)
        ok = member is not None and await asyncio.to_thread(
            check_password, current, member.password_hash
        )
        if not ok:
            raise Forbidden("wrong password", public_message="the current password is wrong")
        await self.set_password(session.username, new)

    async def remove(self, username: str) -> None:
        if not await self.store.remove_staff(username.strip().lower()):
            raise NotFound(f"no staff member {username!r}")

    async def _update(self, username: str, **changes: Any) -> None:
        if not await self.store.update_staff(username.strip().lower(), **changes):
            raise NotFound(f"no staff member {username!r}")

    def _mac(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
