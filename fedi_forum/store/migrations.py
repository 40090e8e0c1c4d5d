"""Versioned, forward-only schema migrations.

Each entry is applied once, in order, inside its own transaction, and recorded in
``schema_migrations``. Never edit a released migration: add a new one. The SQL stays
close to the common subset of SQLite and PostgreSQL (TEXT timestamps in ISO 8601 UTC,
INTEGER ids, no SQLite-only types) so a second backend can follow the same numbering.

Its length is the schema's history: append-only by rule, so it grows and is not split.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
-- Instance facts fixed at first start (the base URL every id was built from).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE discussions (
    id               INTEGER PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,          -- lower-case [a-z0-9_]{1,30}
    title            TEXT NOT NULL,
    summary          TEXT NOT NULL DEFAULT '',
    lang             TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'locked', 'closed', 'deleted')),
    announce_replies INTEGER NOT NULL DEFAULT 1,
    public_key_pem   TEXT NOT NULL,                 -- private half lives in keys/
    views            INTEGER NOT NULL DEFAULT 0,
    last_seq         INTEGER NOT NULL DEFAULT 0,    -- next note gets last_seq + 1
    reply_count      INTEGER NOT NULL DEFAULT 0,
    revision         INTEGER NOT NULL DEFAULT 0,    -- bumped on any note change (ETags)
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_activity_at TEXT NOT NULL
);

-- Remote actors we know (authors, followers, signers), with their parsed key.
CREATE TABLE actors (
    id                 TEXT PRIMARY KEY,            -- actor URL
    host               TEXT NOT NULL,
    type               TEXT NOT NULL,
    preferred_username TEXT,
    name               TEXT,
    url                TEXT,
    icon_url           TEXT,
    inbox              TEXT,
    shared_inbox       TEXT,
    key_id             TEXT,
    public_key_pem     TEXT,
    state              TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'gone')),
    fetched_at         TEXT NOT NULL,
    raw                TEXT
);
CREATE INDEX actors_key_id ON actors (key_id);
CREATE INDEX actors_host ON actors (host);

-- Every note of a discussion, in our order. seq 0 is the opening post.
CREATE TABLE notes (
    id              INTEGER PRIMARY KEY,
    discussion_id   INTEGER NOT NULL REFERENCES discussions (id),
    seq             INTEGER NOT NULL,
    ap_id           TEXT NOT NULL UNIQUE,
    activity_id     TEXT,                           -- the Create that brought it
    author_id       TEXT NOT NULL,
    is_local        INTEGER NOT NULL DEFAULT 0,
    in_reply_to     TEXT,
    in_reply_to_seq INTEGER,
    content         TEXT NOT NULL,                  -- sanitized HTML
    summary         TEXT,
    sensitive       INTEGER NOT NULL DEFAULT 0,
    lang            TEXT,
    url             TEXT,
    visibility      TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted')),
    state           TEXT NOT NULL DEFAULT 'visible'
                    CHECK (state IN ('visible', 'hidden', 'held', 'deleted')),
    published       TEXT NOT NULL,
    updated         TEXT,
    accepted_at     TEXT NOT NULL,
    raw             TEXT,                           -- the object as received/sent
    UNIQUE (discussion_id, seq)
);
CREATE INDEX notes_author ON notes (author_id);
CREATE INDEX notes_accepted ON notes (accepted_at);

-- Earlier versions of edited notes.
CREATE TABLE note_revisions (
    id         INTEGER PRIMARY KEY,
    note_id    INTEGER NOT NULL REFERENCES notes (id),
    content    TEXT NOT NULL,
    summary    TEXT,
    updated    TEXT,
    raw        TEXT,
    replaced_at TEXT NOT NULL
);
CREATE INDEX note_revisions_note ON note_revisions (note_id);

-- Ids deleted before (or after) we saw them: a later Create of the same id is refused.
CREATE TABLE tombstones (
    ap_id      TEXT PRIMARY KEY,
    actor_id   TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);

-- The group's own activities, newest last (the outbox serves them newest first).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    discussion_id INTEGER NOT NULL REFERENCES discussions (id),
    activity_id   TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    object_id     TEXT,
    published     TEXT NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX outbox_discussion ON outbox (discussion_id, id);

CREATE TABLE follows (
    id                 INTEGER PRIMARY KEY,
    discussion_id      INTEGER NOT NULL REFERENCES discussions (id),
    actor_id           TEXT NOT NULL,
    follow_activity_id TEXT,
    inbox              TEXT NOT NULL,
    shared_inbox       TEXT,
    created_at         TEXT NOT NULL,
    UNIQUE (discussion_id, actor_id)
);
CREATE INDEX follows_actor ON follows (actor_id);

-- Dedupe of incoming activities (activity id), kept long enough to absorb retries.
CREATE TABLE activities_seen (
    activity_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
CREATE INDEX activities_seen_received ON activities_seen (received_at);

-- Likes, boosts and emoji reactions on our notes.
CREATE TABLE reactions (
    id          INTEGER PRIMARY KEY,
    note_id     INTEGER NOT NULL REFERENCES notes (id),
    actor_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,                      -- Like | Announce | EmojiReact
    content     TEXT,                               -- the emoji, for EmojiReact
    activity_id TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE INDEX reactions_note ON reactions (note_id);

-- Outgoing deliveries: one row per (activity, inbox); the worker claims with a lease.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    activity_id     TEXT NOT NULL,
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    signer          TEXT NOT NULL,                  -- local actor whose key signs
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (activity_id, inbox)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_host ON deliveries (host, state);

CREATE TABLE blocks (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('domain', 'actor')),
    value      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (kind, value)
);

CREATE TABLE reports (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL CHECK (source IN ('federated', 'form')),
    activity_id   TEXT UNIQUE,
    reporter      TEXT,                             -- actor id or contact; never shown publicly
    discussion_id INTEGER REFERENCES discussions (id),
    note_ids      TEXT NOT NULL DEFAULT '[]',
    comment       TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'dismissed')),
    created_at    TEXT NOT NULL
);

-- Per remote server facts: software, dialect, health.
CREATE TABLE instances (
    host              TEXT PRIMARY KEY,
    software          TEXT,
    version           TEXT,
    dialect           TEXT,                          -- 'microblog' | 'group' (FEP-1b12)
    dialect_override  TEXT,
    signature_spec    TEXT,                          -- 'cavage' | 'rfc9421'
    failures          INTEGER NOT NULL DEFAULT 0,
    last_failure_at   TEXT,
    unavailable_since TEXT,
    last_seen_at      TEXT,
    nodeinfo_fetched_at TEXT
);
""",
    ),
    (
        2,
        """
-- Delivery: the FEP-1b12 form of a payload (Announce{Create…}) for group servers, a
-- per-inbox FIFO queue, and per-server health for skipping long-dead servers.
ALTER TABLE deliveries ADD COLUMN group_payload TEXT;
CREATE INDEX deliveries_queue ON deliveries (state, inbox, id);
ALTER TABLE instances ADD COLUMN failing_since TEXT;
ALTER TABLE instances ADD COLUMN last_probe_at TEXT;
""",
    ),
    (
        3,
        """
-- Public moderation log: what was removed, when, under which reason code (terms of
-- use). Never who reported it, never who decided.
CREATE TABLE modlog (
    id            INTEGER PRIMARY KEY,
    action        TEXT NOT NULL,         -- hide | restore | delete | block | unblock
    discussion_id INTEGER REFERENCES discussions (id),
    note_seq      INTEGER,
    target        TEXT,                  -- a note id, or a blocked domain
    reason        TEXT NOT NULL,         -- a reason code of the terms
    created_at    TEXT NOT NULL
);
CREATE INDEX modlog_created ON modlog (id);
""",
    ),
    (
        4,
        """
-- Staff accounts for /admin. Passwords are scrypt hashes; session_epoch is bumped by
-- logging out, which ends every session of that account.
CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'moderator')),
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    session_epoch   INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);
""",
    ),
    (
        5,
        """
-- Pre-moderation: replies wait (state 'held') until a moderator approves them.
ALTER TABLE discussions ADD COLUMN premoderate INTEGER NOT NULL DEFAULT 0;
""",
    ),
    (
        6,
        """
-- Staff replies: a moderator's reply may be marked as the official answer.
ALTER TABLE notes ADD COLUMN official INTEGER NOT NULL DEFAULT 0;
""",
    ),
    (
        7,
        """
-- Discussions on other servers that this instance follows (its instance actor sends the
-- Follow), e.g. another municipality's fedi-forum or a Lemmy community.
CREATE TABLE remote_groups (
    id                 INTEGER PRIMARY KEY,
    actor_id           TEXT NOT NULL UNIQUE,        -- the Group; its key/inbox in actors
    handle             TEXT NOT NULL,               -- slug@host, lower-case
    follow_activity_id TEXT NOT NULL,
    state              TEXT NOT NULL
                       CHECK (state IN ('pending', 'accepted', 'rejected', 'ended')),
    note_count         INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    backfilled_at      TEXT
);
CREATE INDEX remote_groups_handle ON remote_groups (handle);

-- Their notes, in the group's order (position 0 = its opening post when known). Content
-- is sanitized like any remote note; positions are dense and follow the group's context
-- collection after a backfill, arrival order before.
CREATE TABLE remote_notes (
    id                   INTEGER PRIMARY KEY,
    group_id             INTEGER NOT NULL REFERENCES remote_groups (id),
    position             INTEGER NOT NULL,
    ap_id                TEXT NOT NULL,
    author_id            TEXT NOT NULL,
    in_reply_to          TEXT,
    in_reply_to_position INTEGER,
    content              TEXT NOT NULL,
    summary              TEXT,
    sensitive            INTEGER NOT NULL DEFAULT 0,
    lang                 TEXT,
    url                  TEXT,
    state                TEXT NOT NULL DEFAULT 'visible' CHECK (state IN ('visible', 'deleted')),
    published            TEXT NOT NULL,
    updated              TEXT,
    received_at          TEXT NOT NULL,
    UNIQUE (group_id, ap_id)
);
CREATE INDEX remote_notes_order ON remote_notes (group_id, position);
""",
    ),
    (
        8,
        """
-- Dedupe keyed by (actor, activity id): one actor can never mark another's activity as
-- seen before it arrives (activity-id squatting). Rows from before carry actor ''.
CREATE TABLE activities_seen_by_actor (
    actor_id    TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (actor_id, activity_id)
);
INSERT INTO activities_seen_by_actor (actor_id, activity_id, received_at)
    SELECT '', activity_id, received_at FROM activities_seen;
DROP TABLE activities_seen;
ALTER TABLE activities_seen_by_actor RENAME TO activities_seen;
CREATE INDEX activities_seen_received ON activities_seen (received_at);
""",
    ),
    (
        9,
        """
-- Delivery lanes that never stall (docs/delivery.md): order is kept per (inbox, subject)
-- — the activities about one object — instead of per inbox; a row a server never
-- answers while it answers the rest is set aside ('aside') after a few timeouts; leases
-- name their owner (a row of workers) so a restarted worker reclaims a dead one's rows
-- at once. Rows from before keep subject '' (one lane per inbox, as before).
CREATE TABLE deliveries_v9 (
    id              INTEGER PRIMARY KEY,
    activity_id     TEXT NOT NULL,
    inbox           TEXT NOT NULL,
    host            TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',       -- the object the activity is about
    payload         TEXT NOT NULL,
    group_payload   TEXT,
    signer          TEXT NOT NULL,                  -- local actor whose key signs
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead', 'aside')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    timeouts        INTEGER NOT NULL DEFAULT 0,     -- unanswered while the server answered others
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    lease_owner     TEXT,                           -- workers.id holding the lease
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (activity_id, inbox)
);
INSERT INTO deliveries_v9 (id, activity_id, inbox, host, payload, group_payload, signer,
    state, attempts, next_attempt_at, locked_until, last_status, last_error, created_at)
    SELECT id, activity_id, inbox, host, payload, group_payload, signer, state, attempts,
    next_attempt_at, locked_until, last_status, last_error, created_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v9 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_host ON deliveries (host, state);
CREATE INDEX deliveries_queue ON deliveries (state, inbox, subject, id);
CREATE INDEX deliveries_pending ON deliveries (id) WHERE state = 'pending';
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

-- Running workers (delivery and backfill), so leases have owners: a process on this
-- machine that is gone, or a heartbeat older than a few seconds, frees its leases.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,                  -- machine:pid:boot id:start
    machine      TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    boot_id      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

-- Reading a followed group's history (FEP-f228) is a queued job like a delivery:
-- resumed after a restart, retried with backoff, visible to the operator.
CREATE TABLE backfills (
    group_id        INTEGER PRIMARY KEY REFERENCES remote_groups (id),
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    lease_owner     TEXT,
    added           INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    requested_at    TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX backfills_due ON backfills (state, next_attempt_at);
""",
    ),
    (
        10,
        """
-- Private keys and secrets sealed with the operator's secret file (FEDI_FORUM_SECRET_FILE),
-- so a discussion created through one host is signable at once by a worker on another
-- (docs/postgresql.md). Named as in the keys directory: group-x.pem, session.secret.
CREATE TABLE sealed_keys (
    name       TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,                       -- a Fernet token (store/sealing.py)
    created_at TEXT NOT NULL
);

-- Public-form rate limits shared by every process and host (web/ratelimit.py): hits of
-- one client (a keyed hash, never the address) in one fixed window of one form.
CREATE TABLE rate_windows (
    scope   TEXT NOT NULL,                          -- login, report, interact
    client  TEXT NOT NULL,
    slot    INTEGER NOT NULL,                       -- unix time // window length
    hits    INTEGER NOT NULL,
    PRIMARY KEY (scope, client, slot)
);
CREATE INDEX rate_windows_slot ON rate_windows (slot);
""",
    ),
    (
        11,
        """
-- Authors an import brought in (docs/ning.md): local, read-only Person actors at
-- B/members/{handle}. What identified them in the archive (source_key, e.g. a Ning
-- contributorName) stays here, to know them again on the next run; it is never published.
CREATE TABLE members (
    id         INTEGER PRIMARY KEY,
    handle     TEXT NOT NULL UNIQUE,                -- ning.17: a dot, so never a slug
    name       TEXT NOT NULL DEFAULT '',            -- '' when not to be named
    known      INTEGER NOT NULL DEFAULT 1,            -- 0: not in the archive's members file
    source     TEXT NOT NULL,
    source_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (source, source_key)
);

-- What an import made of each item of an archive, by the archive's own id: a re-run adds
-- only what is missing, and old links (/forum/topics/..., /xn/detail/...) are answered.
CREATE TABLE imported_items (
    source        TEXT NOT NULL,
    source_id     TEXT NOT NULL,                    -- 2117379:Topic:72, 2117379:Comment:85
    discussion_id INTEGER NOT NULL REFERENCES discussions (id),
    seq           INTEGER NOT NULL,
    old_slug      TEXT,                             -- a topic's slug on Ning
    PRIMARY KEY (source, source_id)
);
CREATE INDEX imported_items_old_slug ON imported_items (old_slug) WHERE old_slug IS NOT NULL;
CREATE INDEX imported_items_discussion ON imported_items (discussion_id);

ALTER TABLE discussions ADD COLUMN imported_from TEXT;   -- 'ning'
ALTER TABLE discussions ADD COLUMN imported_at TEXT;
ALTER TABLE discussions ADD COLUMN label TEXT NOT NULL DEFAULT '';  -- an archive's category
""",
    ),
    (
        12,
        """
-- The official answers of a discussion, pinned at the top of its page (few per discussion).
CREATE INDEX notes_official ON notes (discussion_id, seq) WHERE official = 1;
-- The pre-moderation queue, newest first, without reading every note.
CREATE INDEX notes_held ON notes (id) WHERE state = 'held';

-- Staff accounts: the name shown on pages and on Mastodon, and a switch that ends an
-- account's access without deleting it (its replies stay attributed).
ALTER TABLE staff ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

-- A discussion's own avatar and header (admin upload, re-encoded: Discussions.set_image),
-- in the database so every host serves them; the discussion row says since when.
CREATE TABLE discussion_images (
    discussion_id INTEGER NOT NULL REFERENCES discussions (id),
    kind          TEXT NOT NULL CHECK (kind IN ('icon', 'header')),
    media_type    TEXT NOT NULL,
    data          BLOB NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (discussion_id, kind)
);
ALTER TABLE discussions ADD COLUMN icon_at TEXT;
ALTER TABLE discussions ADD COLUMN header_at TEXT;

-- Which staff member did what, for the administrators only (the public modlog never
-- names people): written after each action in /admin and each `fedi-forum admin`.
CREATE TABLE staff_audit (
    id         INTEGER PRIMARY KEY,
    username   TEXT NOT NULL,                       -- or "command line"
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
""",
    ),
    (
        13,
        """
-- Full-text search (store/search.py, docs/search.md): a note is indexed while it is
-- visible, public and in a live discussion. title: the discussion's title, on its
-- opening post; body: the text. Both hold word stems made by ff_search_text
-- (search_text.stems_of, registered on every connection that writes notes).
-- detail=column: no word positions (no phrase queries: a query is words, each a token),
-- which makes the index 40% smaller and ranking faster (bench/search.py).
CREATE VIRTUAL TABLE search_index USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2', detail = column
);
CREATE TRIGGER search_note_added AFTER INSERT ON notes
WHEN new.state = 'visible' AND new.visibility = 'public'
BEGIN
    INSERT INTO search_index (rowid, title, body)
    SELECT new.id, CASE WHEN new.seq = 0 THEN ff_search_text(d.title, d.lang) ELSE '' END,
           ff_search_text(new.content, coalesce(new.lang, d.lang))
    FROM discussions d WHERE d.id = new.discussion_id AND d.state != 'deleted';
END;
CREATE TRIGGER search_note_changed AFTER UPDATE OF content, state, visibility, lang ON notes
BEGIN
    DELETE FROM search_index WHERE rowid = old.id;
    INSERT INTO search_index (rowid, title, body)
    SELECT new.id, CASE WHEN new.seq = 0 THEN ff_search_text(d.title, d.lang) ELSE '' END,
           ff_search_text(new.content, coalesce(new.lang, d.lang))
    FROM discussions d
    WHERE d.id = new.discussion_id AND d.state != 'deleted'
      AND new.state = 'visible' AND new.visibility = 'public';
END;
CREATE TRIGGER search_note_removed AFTER DELETE ON notes
BEGIN
    DELETE FROM search_index WHERE rowid = old.id;
END;
CREATE TRIGGER search_discussion_retitled AFTER UPDATE OF title ON discussions
BEGIN
    UPDATE search_index SET title = ff_search_text(new.title, new.lang)
    WHERE rowid = (SELECT id FROM notes WHERE discussion_id = new.id AND seq = 0);
END;
CREATE TRIGGER search_discussion_deleted AFTER UPDATE OF state ON discussions
WHEN new.state = 'deleted'
BEGIN
    DELETE FROM search_index
    WHERE rowid IN (SELECT id FROM notes WHERE discussion_id = new.id);
END;
INSERT INTO search_index (rowid, title, body)
SELECT n.id, CASE WHEN n.seq = 0 THEN ff_search_text(d.title, d.lang) ELSE '' END,
       ff_search_text(n.content, coalesce(n.lang, d.lang))
FROM notes n JOIN discussions d ON d.id = n.discussion_id
WHERE n.state = 'visible' AND n.visibility = 'public' AND d.state != 'deleted';
""",
    ),
    (
        14,
        """
-- Categories (#16, docs/categories.md): Group actors of their own (@slug@host, /c/slug)
-- that a discussion may belong to; kind 'forum' is the one actor for every discussion.
-- Their slugs share the namespace of discussions and staff (one @name per actor).
CREATE TABLE categories (
    id             INTEGER PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL DEFAULT 'category' CHECK (kind IN ('category', 'forum')),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    lang           TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
ALTER TABLE discussions ADD COLUMN category_id INTEGER REFERENCES categories (id);
CREATE INDEX discussions_category ON discussions (category_id, id);

-- A follow is of a discussion or of a category: the same rows, so every rule that ends
-- follows (Undo, Block, a blocked domain, a gone inbox, a deleted actor) covers both.
CREATE TABLE follows_v14 (
    id                 INTEGER PRIMARY KEY,
    discussion_id      INTEGER REFERENCES discussions (id),
    category_id        INTEGER REFERENCES categories (id),
    actor_id           TEXT NOT NULL,
    follow_activity_id TEXT,
    inbox              TEXT NOT NULL,
    shared_inbox       TEXT,
    created_at         TEXT NOT NULL,
    CHECK ((discussion_id IS NULL) != (category_id IS NULL)),
    UNIQUE (discussion_id, actor_id),
    UNIQUE (category_id, actor_id)
);
INSERT INTO follows_v14 (id, discussion_id, actor_id, follow_activity_id, inbox,
    shared_inbox, created_at)
    SELECT id, discussion_id, actor_id, follow_activity_id, inbox, shared_inbox, created_at
    FROM follows;
DROP TABLE follows;
ALTER TABLE follows_v14 RENAME TO follows;
CREATE INDEX follows_actor ON follows (actor_id);
""",
    ),
    (
        15,
        """
-- Starting a discussion from the fediverse (docs/categories.md): a public post that
-- mentions a category and replies to nothing is a proposal; by the category's posting
-- rule it opens a discussion at once ('open'), waits for a moderator ('held', the
-- default) or is refused with a polite answer ('closed').
ALTER TABLE categories ADD COLUMN posting TEXT NOT NULL DEFAULT 'held'
    CHECK (posting IN ('open', 'held', 'closed'));
CREATE TABLE proposals (
    id            INTEGER PRIMARY KEY,
    category_id   INTEGER NOT NULL REFERENCES categories (id),
    note_ap_id    TEXT NOT NULL UNIQUE,              -- the author's post
    activity_id   TEXT NOT NULL,
    author_id     TEXT NOT NULL,
    author_host   TEXT NOT NULL,
    title         TEXT NOT NULL,
    content       TEXT NOT NULL,                     -- sanitised HTML, title line left out
    lang          TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'held'
                  CHECK (state IN ('held', 'approved', 'refused')),
    discussion_id INTEGER REFERENCES discussions (id),
    answer        TEXT,                              -- the category's reply to the author
    created_at    TEXT NOT NULL,
    decided_at    TEXT
);
CREATE INDEX proposals_held ON proposals (id) WHERE state = 'held';
CREATE INDEX proposals_author ON proposals (author_id, state);
CREATE INDEX proposals_host ON proposals (author_host, created_at);
""",
    ),
    (
        16,
        """
-- A category may also boost every reply of its discussions (docs/categories.md): its
-- followers then get each reply, and each edit and removal of one, from the category.
ALTER TABLE categories ADD COLUMN relay_replies INTEGER NOT NULL DEFAULT 0;
""",
    ),
    (
        17,
        """
-- A discussion pinned by an administrator: its category's (and the forum-wide actor's)
-- featured collection holds its opening post, and the category's page lists it first.
ALTER TABLE discussions ADD COLUMN pinned_at TEXT;
CREATE INDEX discussions_pinned ON discussions (pinned_at) WHERE pinned_at IS NOT NULL;
""",
    ),
    (
        18,
        """
-- A reply's fan-out reads the distinct inboxes of a discussion's (or a category's)
-- followers (store/primitives.enqueue_followers): in the order of this expression, the
-- read is one walk of the index, with no table row and no sort for DISTINCT. 10,000
-- followers on 200 servers: 4.5 ms -> 0.23 ms (bench/README.md, G2-sus).
CREATE INDEX follows_discussion_inbox ON follows (discussion_id, coalesce(shared_inbox, inbox));
CREATE INDEX follows_category_inbox ON follows (category_id, coalesce(shared_inbox, inbox));
""",
    ),
    (
        19,
        """
-- PostgreSQL only (its search trigger's function, pg_schema 19); nothing on SQLite.
""",
    ),
)


def latest_version() -> int:
    return MIGRATIONS[-1][0]
