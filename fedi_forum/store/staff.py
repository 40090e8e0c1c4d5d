"""Store operations for staff accounts (the /admin login)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

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
    display_name: str = ""
    disabled: bool = False

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    username: str
    action: str
    target: str
    detail: str
    created_at: str


_COLS = (
    "id, username, password_hash, role, failed_logins, locked_until, session_epoch, "
    "created_at, display_name, disabled"
)


def _member(row: Any) -> StaffMember:
    return StaffMember(
        id=row[0],
        username=row[1],
        password_hash=row[2],
        role=row[3],
        failed_logins=row[4],
        locked_until=row[5],
        session_epoch=row[6],
        created_at=row[7],
        display_name=str(row[8]),
        disabled=bool(row[9]),
    )


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
        return None if row is None else _member(row)

    async def staff_names(self, usernames: Sequence[str]) -> dict[str, str]:
        """The display names of some staff members (those that have one)."""
        if not usernames:
            return {}
        marks = ",".join("?" * len(usernames))
        rows = await self.db.fetch_all(
            f"SELECT username, display_name FROM staff WHERE username IN ({marks}) "
            "AND display_name != ''",
            tuple(usernames),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    async def staff_members(self) -> list[StaffMember]:
        rows = await self.db.fetch_all(f"SELECT {_COLS} FROM staff ORDER BY username")
        return [_member(r) for r in rows]

    async def update_staff(
        self,
        username: str,
        *,
        display_name: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> bool:
        """Change an account; disabling it or setting a password also ends its sessions
        (and a new password lifts a lock). False when there is no such account."""

        def write(conn: Conn) -> bool:
            sets: list[str] = []
            args: list[Any] = []
            if display_name is not None:
                sets.append("display_name = ?")
                args.append(display_name)
            if disabled is not None:
                sets.append("disabled = ?")
                args.append(int(disabled))
            if password_hash is not None:
                sets += ["password_hash = ?", "failed_logins = 0", "locked_until = NULL"]
                args.append(password_hash)
            if disabled or password_hash is not None:
                sets.append("session_epoch = session_epoch + 1")
            if not sets:
                return (
                    conn.execute("SELECT 1 FROM staff WHERE username = ?", (username,)).fetchone()
                    is not None
                )
            # the SET list is built from the constants above only
            cur = conn.execute(
                f"UPDATE staff SET {', '.join(sets)} WHERE username = ?", (*args, username)
            )
            if cur.rowcount == 1 and display_name is not None:
                # pages showing their replies are cached by revision (a rare change: the
                # scan of notes by author URL suffix is fine; "_" matching more is too)
                conn.execute(
                    "UPDATE discussions SET revision = revision + 1 WHERE id IN "
                    "(SELECT DISTINCT discussion_id FROM notes WHERE author_id LIKE ?)",
                    (f"%/staff/{username}",),
                )
            return cur.rowcount == 1

        return await self.db.write(write)

    async def remove_staff(self, username: str) -> bool:
        def write(conn: Conn) -> bool:
            return conn.execute("DELETE FROM staff WHERE username = ?", (username,)).rowcount == 1

        return await self.db.write(write)

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

    async def record_audit(
        self, username: str, action: str, target: str, detail: str, now: str
    ) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO staff_audit (username, action, target, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (username, action, target[:300], detail[:300], now),
            )

        await self.db.write(write)

    async def audit_log(self, limit: int = 50, before: int | None = None) -> list[AuditEntry]:
        """Newest first, keyset-paged by id."""
        rows = await self.db.fetch_all(
            "SELECT id, username, action, target, detail, created_at FROM staff_audit "
            "WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**62, limit),
        )
        return [AuditEntry(*r) for r in rows]
