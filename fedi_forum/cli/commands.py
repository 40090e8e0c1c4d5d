"""The operator's commands: each a function ``(args, settings, explicit) -> exit code``
that opens what it needs, does one thing and closes it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sqlite3
import sys

from fedi_forum import __version__
from fedi_forum.cli.context import (
    federation_of,
    with_services,
)
from fedi_forum.cli.progress import ImportProgress
from fedi_forum.config import Settings
from fedi_forum.forum import ning_archive, ning_import
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.discussions import Discussions
from fedi_forum.forum.moderation import Moderation
from fedi_forum.forum.remote import RemoteDiscussions
from fedi_forum.forum.staff import Staff
from fedi_forum.models import CategoryPosting, DiscussionState, utcnow
from fedi_forum.store import Database, backup
from fedi_forum.store import check as check_store
from fedi_forum.store.archive_files import ArchiveFiles
from fedi_forum.store.backup import BackupError
from fedi_forum.store.db import SchemaTooNew, schema_version
from fedi_forum.store.migrations import MIGRATIONS


def init_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """init: the data directory, database and instance key (and the demo with --demo)."""

    async def init(s: Settings, discussions: Discussions) -> int:
        if args.demo:
            await discussions.ensure_demo()
        print(f"initialised {s.data_dir} for {s.base_url}")
        return 0

    return asyncio.run(with_services(settings, explicit, init))


def discussion_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    async def run(_s: Settings, discussions: Discussions) -> int:
        if args.action == "create":
            body = args.body if args.body is not None else args.body_file.read_text("utf-8")
            d = await discussions.create(
                slug=args.slug,
                title=args.title,
                body=body,
                lang=args.lang,
                summary=args.summary,
                category=args.category,
                author=args.author,
            )
            print(discussions.handle(d))
            print(discussions.urls.group(d.slug))
        elif args.action == "edit":
            body = args.body_file.read_text("utf-8") if args.body_file else args.body
            texts = (args.title, body, args.summary)
            if args.category is not None:
                categories = Categories(_s, discussions.store, discussions.keyring)
                d = await categories.file(args.slug, args.category or None)
            if args.category is None or any(t is not None for t in texts):
                d = await discussions.edit(
                    args.slug, title=args.title, body=body, summary=args.summary
                )
            print(f"{discussions.handle(d)}\tedited: {d.title}")
        elif args.action == "premoderate":
            d = await discussions.set_premoderate(args.slug, args.setting == "on")
            print(f"{discussions.handle(d)}\tpre-moderation: {args.setting}")
        elif args.action == "pin":
            d = await discussions.set_pinned(args.slug, args.setting == "on")
            print(f"{discussions.handle(d)}\tpinned: {args.setting}")
        elif args.action == "announce":
            d = await discussions.set_announce_replies(args.slug, args.setting == "on")
            print(f"{discussions.handle(d)}\tannounce replies: {args.setting}")
        elif args.action == "list":
            for d, _ in await discussions.store.discussions(limit=10_000):
                print(f"{discussions.handle(d)}\t{d.state}\t{d.reply_count}\t{d.title}")
        else:
            state = {
                "lock": DiscussionState.LOCKED,
                "unlock": DiscussionState.OPEN,
                "close": DiscussionState.CLOSED,
                "delete": DiscussionState.DELETED,
            }[args.action]
            d = await discussions.set_state(args.slug, state)
            print(f"{discussions.handle(d)}\t{d.state}")
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def search_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """search reindex (the parser's only action)."""
    del args

    async def run(_s: Settings, discussions: Discussions) -> int:
        count = await discussions.store.reindex_search()
        print(f"search index rebuilt: {count} messages")
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def category_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    async def run(s: Settings, discussions: Discussions) -> int:
        categories = Categories(s, discussions.store, discussions.keyring)
        if args.action == "create":
            c = await categories.create(
                slug=args.slug, name=args.name, description=args.description, lang=args.lang
            )
            print(f"@{c.slug}@{s.domain}")
            print(categories.urls.category(c.slug))
        elif args.action == "edit":
            c = await categories.edit(
                args.slug,
                name=args.name,
                description=args.description,
                posting=CategoryPosting(args.posting) if args.posting else None,
                relay_replies=None if args.relay is None else args.relay == "on",
            )
            print(f"@{c.slug}@{s.domain}\tedited: {c.name}")
        else:  # list (the parser's closed set)
            for c, count in await discussions.store.categories():
                print(f"@{c.slug}@{s.domain}\t{c.kind}\t{count}\t{c.name}")
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def remote_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """follow / unfollow / following: discussions on other servers."""

    async def run(s: Settings, discussions: Discussions) -> int:
        store = discussions.store
        if args.command == "following":
            for g in await store.remote_groups():
                history = g.backfill_state or "-"
                if g.backfill_state == "pending" and g.backfill_attempts:
                    history = f"retrying after {g.backfill_attempts} attempts"
                if g.backfill_error and g.backfill_state != "done":
                    history += f" ({g.backfill_error[:120]})"
                print(
                    f"{g.state}\t@{g.handle}\t{g.note_count} notes\t{g.name}\t"
                    f"history {history}, read {g.backfilled_at or '-'}"
                )
            return 0
        async with federation_of(s, discussions) as fed:
            remote = RemoteDiscussions(s, store, fed.keys, fed.client, fed.notes)
            if args.command == "follow":
                group = await remote.follow(args.handle)
                print(
                    f"follow of @{group.handle} ({group.name}) queued: {group.state}; "
                    "the history is read once the group accepts"
                )
            else:
                group = await remote.unfollow(args.handle)
                print(f"unfollow of @{group.handle} queued")
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def _migrate_postgresql(settings: Settings, *, check_only: bool) -> int:
    from fedi_forum.store.postgres import apply_pg_migrations, schema_version_at

    current = schema_version_at(settings.database_url)
    latest = MIGRATIONS[-1][0]
    if current > latest:
        raise SchemaTooNew(f"the database is at schema version {current}, newer than {latest}")
    if current == latest:
        print(f"schema version {current}: up to date")
        return 0
    if check_only:
        print(f"schema version {current}; would migrate to {latest} (back up first: pg_dump)")
        return 1
    print(f"schema version {current} → {apply_pg_migrations(settings.database_url)}")
    return 0


def _sqlite_only(settings: Settings, what: str) -> None:
    if settings.on_postgresql:
        raise ValueError(
            f"{what} works on the SQLite file; on PostgreSQL use pg_dump/pg_restore and "
            "keep the secret file apart from the dumps (docs/postgresql.md)"
        )


def migrate(settings: Settings, *, check_only: bool) -> int:
    """What `serve` does on start, on its own: apply the pending migrations; with
    ``check_only``, list them (exit 1 when some would run) and change nothing."""
    if settings.on_postgresql:
        return _migrate_postgresql(settings, check_only=check_only)
    if not settings.db_path.exists():
        print(f"no database at {settings.db_path}: the first start creates it")
        return 0
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True)
    try:
        current = schema_version(conn)
    finally:
        conn.close()
    pending = [version for version, _ in MIGRATIONS if version > current]
    if current > MIGRATIONS[-1][0]:
        raise SchemaTooNew(
            f"the database is at schema version {current}, newer than this "
            f"fedi-forum ({MIGRATIONS[-1][0]})"
        )
    if not pending:
        print(f"schema version {current}: up to date")
        return 0
    if check_only:
        print(
            f"schema version {current}; would apply: {', '.join(map(str, pending))} "
            "(back up first: fedi-forum backup OUT.tar.gz)"
        )
        return 1

    async def run() -> None:
        db = Database(settings.db_path)
        await db.open()  # opening applies them, each in its own transaction
        await db.close()

    asyncio.run(run())
    print(f"schema version {current} → {MIGRATIONS[-1][0]}")
    return 0


def backup_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """``backup OUT`` / ``restore ARCHIVE`` (store/backup.py)."""
    _sqlite_only(settings, f"fedi-forum {args.command}")
    if args.command == "backup":
        if not str(args.out).endswith(".tar.gz"):
            raise BackupError("the archive name must end in .tar.gz")
        made = backup.backup(
            settings.db_path,
            settings.keys_dir,
            args.out,
            __version__,
            settings.base_url if explicit else None,
        )
        counts = ", ".join(f"{k} {v}" for k, v in made.counts.items())
        print(
            f"backed up {made.base_url} (schema {made.schema_version}; {counts}; "
            f"{len(made.keys)} key files) to {args.out}"
        )
        return 0
    wanted = backup.read_manifest(args.archive)
    moving = explicit and wanted.base_url != settings.base_url
    if moving and not args.rewrite_ids:
        raise BackupError(
            f"the backup is of {wanted.base_url}, not {settings.base_url}: every id it "
            "published embeds its URL, so it can only be restored under that URL (or, "
            "to move the forum, with --rewrite-ids: see the README first)"
        )
    if args.rewrite_ids and not moving:
        raise BackupError("--rewrite-ids needs --base-url with the new address")
    restored = backup.restore(args.archive, settings.data_dir, settings.keys_dir)
    print(
        f"restored {restored.base_url} (made {restored.created_at} by fedi-forum "
        f"{restored.software_version}) into {settings.data_dir} and {settings.keys_dir}"
    )
    if moving:
        changed = backup.rewrite_base_url(settings.db_path, restored.base_url, settings.base_url)
        print(
            f"moved to {settings.base_url}: {changed} values rewritten. Followers on other "
            f"servers still follow the old addresses: keep {restored.base_url} redirecting "
            "to the new one and ask them to follow again"
        )
    return 0


def deliveries_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    async def run(_s: Settings, discussions: Discussions) -> int:
        if args.retry or args.retry_aside:
            ids = None if args.retry_aside else list(args.retry)
            queued = await discussions.store.retry_deliveries(ids, utcnow())
            print(f"queued again: {queued}")
            return 0 if queued or ids is None else 1
        report = await discussions.store.delivery_report()
        states = report["states"]
        print(
            "deliveries: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            if states
            else "deliveries: none"
        )
        print(f"oldest pending: {report['oldest_pending'] or '-'}")
        if report["pending_by_host"]:
            print("pending per server:")
            for host, n in report["pending_by_host"].items():
                print(f"  {host}\t{n}")
        if report["failing"]:
            print("failing servers (failures, failing since, unavailable since, software):")
            for row in report["failing"]:
                print(
                    f"  {row['host']}\t{row['failures']}\t{row['failing_since'] or '-'}\t"
                    f"{row['unavailable_since'] or '-'}\t{row['software'] or '?'}"
                )
        if report["aside"]:
            print(
                "set aside: never answered while the server answered others "
                "(fedi-forum deliveries --retry ID):"
            )
            for row in report["aside"]:
                print(
                    f"  {row['id']}\t{row['activity_id']}\t{row['inbox']}\t"
                    f"{row['timeouts']} timeouts\t{row['last_error'] or '-'}"
                )
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def moderation_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    async def run(s: Settings, discussions: Discussions) -> int:
        moderation = Moderation(s, discussions.store)
        store = discussions.store
        if args.command == "moderate":
            result = await moderation.moderate(args.slug, args.seq, args.action, args.reason)
            print(f"{args.action} {args.slug}#{args.seq}: {result}")
        elif args.command == "block":
            target, follows, hidden = await moderation.block(args.kind, args.value, args.reason)
            print(f"blocked {args.kind} {target}: {follows} follows ended, {hidden} replies hidden")
        elif args.command == "unblock":
            found = await moderation.unblock(args.kind, args.value)
            print(f"unblocked {args.value}" if found else f"{args.value} was not blocked")
        elif args.command == "blocks" and args.import_file is not None:
            text = args.import_file.read_text("utf-8")
            preview = await (
                moderation.import_blocks(text, args.reason)
                if args.apply
                else moderation.preview_import(text)
            )
            verb = "blocked" if args.apply else "would block"
            print(f"{verb} {len(preview.new)}: {' '.join(preview.new)}")
            print(
                f"already blocked {len(preview.already)}; invalid {len(preview.invalid)}: "
                f"{' '.join(preview.invalid)}"
            )
        elif args.command == "blocks":
            for b in await store.block_list():
                print(f"{b['kind']}\t{b['value']}\t{b['reason']}\t{b['created_at']}")
        else:
            for r in await store.reports():
                print(f"{r['state']}\t{r['source']}\t{r['note_ids']}\t{r['comment'][:80]}")
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def admin_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """admin create-user | list | disable | enable | remove | reset-password | set-name."""
    password = ""
    if args.action in ("create-user", "reset-password"):
        password = args.password or getpass.getpass("password (12+ characters): ")

    async def run(_s: Settings, discussions: Discussions) -> int:
        staff = Staff(discussions.store, b"")
        if args.action == "create-user":
            await staff.create(args.username, password, args.role)
            print(f"created {args.role} {args.username.lower()}")
        elif args.action == "list":
            for m in await discussions.store.staff_members():
                state = "disabled" if m.disabled else "active"
                print(f"{m.username}\t{m.role}\t{state}\t{m.display_name or '-'}")
        elif args.action in ("disable", "enable"):
            await staff.set_disabled(args.username, args.action == "disable")
            print(f"{args.username.lower()}: {args.action}d")
        elif args.action == "remove":
            await staff.remove(args.username)
            print(f"{args.username.lower()}: removed")
        elif args.action == "reset-password":
            await staff.set_password(args.username, password)
            print(f"{args.username.lower()}: new password set; every session ended")
        else:  # set-name: the parser's choices are a closed set
            await staff.set_display_name(args.username, args.name)
            print(f"{args.username.lower()}: shown as {args.name or args.username.lower()}")
        if args.action != "list":  # the administrators' record of who did what
            target = args.username.lower()
            await discussions.store.record_audit(
                "command line", f"staff {args.action}", target, "", utcnow()
            )
        return 0

    return asyncio.run(with_services(settings, explicit, run))


def db_command(args: argparse.Namespace, settings: Settings, _explicit: bool) -> int:
    """``db copy --to URL``: the SQLite database into an empty PostgreSQL one."""
    from fedi_forum.store.copy import copy_to_postgresql

    if not args.to.startswith(("postgresql://", "postgres://")):
        raise ValueError("--to takes a postgresql:// URL")
    if settings.on_postgresql:
        raise ValueError("this instance is on PostgreSQL already: copy from its SQLite file")
    copied = copy_to_postgresql(settings.db_path, args.to)
    for table, (rows, checksum) in copied.tables.items():
        print(f"{table}\t{rows} rows\t{checksum[:16]}")
    total = sum(rows for rows, _ in copied.tables.values())
    print(f"copied {total} rows in {len(copied.tables)} tables; counts and checksums match")
    print(
        "next: set FEDI_FORUM_DATABASE_URL to that URL and FEDI_FORUM_SECRET_FILE on every "
        "host; the first start seals the keys directory's keys into the database "
        "(docs/postgresql.md)"
    )
    return 0


def keys_command(_args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """``keys reseal``: every sealed key sealed anew with the secret file's first line."""
    from fedi_forum.store.keyring import SealedKeys

    async def reseal(_s: Settings, discussions: Discussions) -> int:
        if not isinstance(discussions.keyring, SealedKeys):
            raise ValueError("keys are files in the keys directory here: nothing is sealed")
        print(f"resealed {await discussions.keyring.reseal()} keys with the first secret")
        return 0

    return asyncio.run(with_services(settings, explicit, reseal))


def check_command(args: argparse.Namespace, settings: Settings, _explicit: bool) -> int:
    """check: integrity and consistency, read-only; exit 1 with each problem in words."""
    _sqlite_only(settings, "fedi-forum check")
    found = check_store.problems(settings.db_path, settings.keys_dir, stale_days=args.stale_days)
    for problem in found:
        print(f"problem: {problem}")
    print("ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


def import_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """import ning DIR: a Ning network's history (docs/ning.md); prints a summary."""
    only = tuple(k.strip() for k in args.only.split(",") if k.strip())
    if not only or any(k not in ning_archive.KINDS for k in only):
        raise ning_archive.ArchiveError("--only takes discussions, blogs or both")
    options = ning_import.Options(
        authors=ning_import.AuthorNames(args.authors),
        category_map=ning_import.read_category_map(args.category_map) if args.category_map else {},
        only=only,
        closed=args.closed,
        dry_run=args.dry_run,
        lang=ning_import.check_lang(args.lang),
    )

    async def run(s: Settings, discussions: Discussions) -> int:
        files = ArchiveFiles(s.data_dir / "files")
        job = ning_import.NingImport(s, discussions.store, discussions.keyring, files, options)
        with ImportProgress(sys.stderr) as progress:
            summary = await job.run(args.archive, progress.topic)
        title = "dry run, nothing written" if options.dry_run else "imported"
        print(f"{title} from {args.archive}:")
        for line in summary.lines(options.dry_run):
            print(f"  {line}")
        return 0

    return asyncio.run(with_services(settings, explicit, run))
