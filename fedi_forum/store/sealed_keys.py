"""Store operations for private keys kept in the database, sealed (store/sealing.py).

The store sees only sealed text: sealing and unsealing happen in ``store/keyring.py``,
with the secret the database never holds.
"""

from __future__ import annotations

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine


class SealedKeyStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def sealed_key(self, name: str) -> str | None:
        row = await self.db.fetch_one("SELECT sealed FROM sealed_keys WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def add_sealed_key(self, name: str, sealed: str, now: str) -> str:
        """Keep ``sealed`` unless a key of that name exists; return the one kept. Two hosts
        creating one discussion's key at once both end up signing with the first."""

        def write(conn: Conn) -> str:
            conn.execute(
                "INSERT INTO sealed_keys (name, sealed, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, sealed, now),
            )
            row = conn.execute("SELECT sealed FROM sealed_keys WHERE name = ?", (name,))
            return str(row.fetchone()[0])

        return await self.db.write(write)

    async def sealed_keys(self) -> list[tuple[str, str]]:
        rows = await self.db.fetch_all("SELECT name, sealed FROM sealed_keys ORDER BY name")
        return [(str(r[0]), str(r[1])) for r in rows]

    async def replace_sealed(self, resealed: list[tuple[str, str]]) -> None:
        """Store keys sealed anew (rotation), in one transaction."""

        def write(conn: Conn) -> None:
            conn.executemany(
                "UPDATE sealed_keys SET sealed = ? WHERE name = ?",
                [(sealed, name) for name, sealed in resealed],
            )

        await self.db.write(write)
