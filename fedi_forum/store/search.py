"""Full-text search over what the public may find (docs/search.md), one call for both
engines: SQLite FTS5 over the notes' word stems (``search_text.stems_of``, which every
connection that writes notes registers as ``ff_search_text``), PostgreSQL ``tsvector``s
in its ``dutch`` or ``english`` configuration with a GIN index.

On both, triggers keep the index in step with ``notes`` and ``discussions`` inside the
writing transaction (migration 13): a note is in it only while it is visible, public
(an unlisted reply — Mastodon's "Minder openbaar" — stays out of search, as it does on
Mastodon) and in a live discussion, so a hidden, removed, held or deleted message
leaves it in the same commit.
"""

from __future__ import annotations

import dataclasses
import sqlite3

from fedi_forum.activitypub import search_text
from fedi_forum.activitypub.search_text import Terms, stems_of
from fedi_forum.models import Discussion, Note
from fedi_forum.store.conn import Conn, Dialect
from fedi_forum.store.engine import Engine
from fedi_forum.store.rows import (
    DISCUSSION_COLS,
    DISCUSSION_WIDTH,
    NOTE_COLS,
    discussion_from_row,
    note_from_row,
    split_row,
)

MAX_RESULTS = 200  # ranked results a query can page through (10 pages of 20)


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """What the index triggers call; on every connection that may write notes (the
    writer, migrations, ``restore --rewrite-ids``). Deterministic, so SQLite may use it
    in triggers and indexes."""
    conn.create_function("ff_search_text", 2, stems_of, deterministic=True)


@dataclasses.dataclass(frozen=True, slots=True)
class SearchFilter:
    since: str | None = None  # ISO 8601 date, inclusive
    until: str | None = None  # ISO 8601 date, inclusive
    category_id: int | None = None  # only discussions in this category (#16)


@dataclasses.dataclass(frozen=True, slots=True)
class SearchHit:
    discussion: Discussion
    note: Note


RANKED = 1_000  # newest matches ranked; a query matching more ranks only these

# Per engine, with {dated} the join a filter (dates, category) needs: the id of the RANKED-th newest
# match (the rest are older), and the best MAX_RESULTS matches from there on. Both
# engines find matches in an inverted index; the cost that grows with a common word is
# ranking, so it is bounded by RANKED (bench/search.py has the figures).
_BOUNDARY = {
    Dialect.SQLITE: "SELECT s.rowid FROM search_index s{dated} WHERE search_index MATCH ?",
    Dialect.POSTGRESQL: "SELECT s.note_id FROM search_index s{dated} WHERE s.document @@ ({q})",
}
_ORDER_BOUNDARY = {
    Dialect.SQLITE: f" ORDER BY s.rowid DESC LIMIT 1 OFFSET {RANKED - 1}",
    Dialect.POSTGRESQL: f" ORDER BY s.note_id DESC LIMIT 1 OFFSET {RANKED - 1}",
}
_BEST = {
    # FTS5's bm25() runs only in the query over its own table: hence a subquery
    Dialect.SQLITE: (
        "SELECT s.rowid AS note_id, bm25(search_index, 5.0, 1.0) AS score "
        "FROM search_index s{dated} WHERE search_index MATCH ? AND s.rowid >= ?"
    ),
    Dialect.POSTGRESQL: (
        "SELECT s.note_id, -ts_rank(s.document, ({q})) AS score "
        "FROM search_index s{dated} WHERE s.document @@ ({q}) AND s.note_id >= ?"
    ),
}
_DATED = {
    Dialect.SQLITE: " JOIN notes dn ON dn.id = s.rowid",
    Dialect.POSTGRESQL: " JOIN notes dn ON dn.id = s.note_id",
}


def _tsquery(count: int) -> str:
    """Each word read as Dutch or English (||), all words required (&&)."""
    one = "(to_tsquery('dutch', ?) || to_tsquery('english', ?))"
    return " && ".join([one] * count)


# What the index holds, built afresh from the notes: migration 13's backfill (its text
# is frozen there, so it is repeated here), for ``fedi-forum search reindex``.
_REINDEX = {
    Dialect.SQLITE: (
        "DELETE FROM search_index",
        "INSERT INTO search_index (rowid, title, body) "
        "SELECT n.id, CASE WHEN n.seq = 0 THEN ff_search_text(d.title, d.lang) ELSE '' END, "
        "ff_search_text(n.content, coalesce(n.lang, d.lang)) "
        "FROM notes n JOIN discussions d ON d.id = n.discussion_id "
        "WHERE n.state = 'visible' AND n.visibility = 'public' AND d.state != 'deleted'",
    ),
    Dialect.POSTGRESQL: (
        "DELETE FROM search_index",
        "SELECT count(ff_search_reindex(id)) FROM notes",
    ),
}
# How many notes the index should hold (``fedi-forum check`` compares).
SEARCHABLE = (
    "SELECT count(*) FROM notes n JOIN discussions d ON d.id = n.discussion_id "
    "WHERE n.state = 'visible' AND n.visibility = 'public' AND d.state != 'deleted'"
)


class SearchStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    def prepare_index(self, content: str, lang: str | None) -> None:
        """Make what the index will hold of a note about to be written, now, on the
        caller's thread. SQLite: its word stems (``search_text.prepare``), which the
        trigger then takes instead of making them inside the writer's transaction.
        PostgreSQL's trigger makes its own ``tsvector``: nothing to make here (stems made
        anyway were ~40 us of the event loop's time a reply, then thrown away)."""
        if self.db.dialect is Dialect.SQLITE:
            search_text.prepare(content, lang)

    async def reindex_search(self) -> int:
        """The index built afresh from the notes (after a restore from elsewhere, or
        when ``fedi-forum check`` finds it out of step). Returns the notes indexed."""
        statements = _REINDEX[self.db.dialect]

        def write(conn: Conn) -> int:
            for sql in statements:
                conn.execute(sql)
            return int(conn.execute("SELECT count(*) FROM search_index").fetchone()[0])

        return await self.db.write(write)

    async def search(
        self, terms: Terms, where: SearchFilter, *, limit: int, offset: int = 0
    ) -> tuple[list[SearchHit], int]:
        """Ranked hits ``offset``…``offset + limit`` and how many there are (at most
        ``MAX_RESULTS``: a ranked list deeper than that is not read)."""
        if not terms or offset >= MAX_RESULTS:
            return [], 0
        dialect = self.db.dialect
        dated = ""
        narrowing: list[object] = []  # dates (text) and a category id
        if where.since or where.until or where.category_id is not None:
            dated = _DATED[dialect]
            if where.since:
                dated += " AND dn.published >= ?"
                narrowing.append(where.since)
            if where.until:
                # published is canonical UTC text (parse._time, format_time): a whole
                # day is every time that sorts below "T24"
                dated += " AND dn.published < ?"
                narrowing.append(where.until + "T24")
            if where.category_id is not None:
                dated += (
                    " AND dn.discussion_id IN (SELECT id FROM discussions WHERE category_id = ?)"
                )
                narrowing.append(where.category_id)
        if dialect is Dialect.POSTGRESQL:
            q = _tsquery(len(terms.words))
            match: list[object] = [w for w in terms.tsquery() for _ in (0, 1)]
        else:
            q, match = "", [terms.fts5()]
        # dn's conditions follow the WHERE's first one: the join's ON takes them
        boundary_sql = _BOUNDARY[dialect].format(dated=dated, q=q) + _ORDER_BOUNDARY[dialect]
        found = await self.db.fetch_one(boundary_sql, [*narrowing, *match], offload=True)
        oldest = int(found[0]) if found else 0
        best = _BEST[dialect].format(dated=dated, q=q)
        rank_params = match if dialect is Dialect.POSTGRESQL else []
        sql = (
            f"SELECT {DISCUSSION_COLS}, {NOTE_COLS}, count(*) OVER () AS total "
            f"FROM ({best} ORDER BY score LIMIT {MAX_RESULTS}) hits "
            "JOIN notes n ON n.id = hits.note_id JOIN discussions d ON d.id = n.discussion_id "
            "LEFT JOIN actors a ON a.id = n.author_id "
            "WHERE n.state = 'visible' AND d.state != 'deleted' "
            "ORDER BY hits.score, n.id DESC LIMIT ? OFFSET ?"
        )
        rows = await self.db.fetch_all(
            sql,
            [*rank_params, *narrowing, *match, oldest, min(limit, MAX_RESULTS - offset), offset],
            offload=True,
        )
        hits = [
            SearchHit(
                discussion_from_row(split_row(r, 0, DISCUSSION_WIDTH)),
                note_from_row(split_row(r, DISCUSSION_WIDTH, None)),
            )
            for r in rows
        ]
        total = min(int(rows[0]["total"]), MAX_RESULTS) if rows else 0
        return hits, total
