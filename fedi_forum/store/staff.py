"""Store operations for staff accounts (the /admin login)."""

from __future__ import annotations

import dataclasses

from fedi_forum.errors import Conflict
from fedi_forum.store.conn import Conn, ConstraintViolation
from fedi_forum.store.engine import Engine

LOCK_AFTER = 5  # failed logins in a row


@dataclasses.dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    username: str
    password_hash: str
    role: str
    failed_logins: int
    locked_until: str | None
    session_epoch: int
    created_at: str


_COLS = "id, username, password_hash, role, failed_logins, locked_until, session_epoch, created_at"


class StaffStore:
    """Mixed into ``Store``."""

    db: Engine

    async def create_staff(self, *, username: str, password_hash: str, role: str, now: str) -> None:
        def write(conn: Conn) -> None:
            try:
                conn.execute(
                    "INSERT INTO staff (username, password_hash, role, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (username, password_hash, role, now),
                )
            except ConstraintViolation as exc:
                raise Conflict(f"user {username}", public_message="that user exists") from exc

        await self.db.write(write)

    async def staff(self, username: str) -> StaffMember | None:
        row = await self.db.fetch_one(f"SELECT {_COLS} FROM staff WHERE username = ?", (username,))
        return None if row is None else StaffMember(*row)

    async def record_login(self, username: str, *, ok: bool, lock_until: str) -> None:
        """Reset the failure count on success; after LOCK_AFTER failures, lock."""

        def write(conn: Conn) -> None:
            if ok:
                conn.execute(
                    "UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE username = ?",
                    (username,),
                )
                return
            conn.execute(
                "UPDATE staff SET failed_logins = failed_logins + 1, locked_until = CASE "
                "WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END WHERE username = ?",
                (LOCK_AFTER, lock_until, username),
            )

        await self.db.write(write)

    async def end_sessions(self, username: str) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE staff SET session_epoch = session_epoch + 1 WHERE username = ?",
                (username,),
            )

        await self.db.write(write)
