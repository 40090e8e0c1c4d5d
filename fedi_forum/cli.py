"""fedi-forum: a federated discussion server; every discussion is an ActivityPub Group.

Each command below has its own --help. Every command works on the same data directory,
also while a server runs on it (SQLite WAL; the server reads discussions from the
database on every request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import getpass
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from fedi_forum import __version__, compose, logs
from fedi_forum.compose import Federation
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.errors import FediForumError
from fedi_forum.forum.discussions import Discussions
from fedi_forum.forum.moderation import REASONS, Moderation
from fedi_forum.forum.remote import RemoteDiscussions
from fedi_forum.forum.staff import Staff
from fedi_forum.models import DiscussionState, utcnow
from fedi_forum.store import Database, Store, backup
from fedi_forum.store import check as check_store
from fedi_forum.store.backup import BackupError
from fedi_forum.store.db import SchemaTooNew, schema_version
from fedi_forum.store.keyfiles import INSTANCE_KEY, KeyFiles
from fedi_forum.store.migrations import MIGRATIONS

T = TypeVar("T")
SETTINGS_ENV = "FEDI_FORUM_SETTINGS_JSON"  # parent → uvicorn worker processes only


class BaseUrlMismatch(Exception):
    pass


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (env FEDI_FORUM_DATA_DIR; ./data)")
    parser.add_argument("--keys-dir", help="private keys (env FEDI_FORUM_KEYS_DIR; ./keys)")
    parser.add_argument("--base-url", help="public URL, e.g. https://forum.example.nl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedi-forum",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fedi-forum {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-* from --forwarded-allow-ips (behind TLS proxy)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxy addresses/CIDRs trusted for X-Forwarded-* (default: "
        "FEDI_FORUM_TRUSTED_PROXIES, else 127.0.0.1,::1)",
    )
    serve.add_argument("--demo", action="store_true", help="make sure a demo discussion exists")
    serve.add_argument(
        "--allow-loopback",
        action="store_true",
        default=None,
        help="fetch from 127.0.0.0/8 and ::1 over http (tests, local demos)",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.add_argument(
        "--log-client-addresses",
        action="store_true",
        help="include visitors' IP addresses in the access log (off: the about page says "
        "none are stored)",
    )

    serve.add_argument(
        "--no-worker",
        dest="run_worker",
        action="store_false",
        default=None,
        help="do not send deliveries here (run `fedi-forum worker` instead)",
    )

    worker = sub.add_parser("worker", help="send queued deliveries (without the web server)")
    _common(worker)
    worker.add_argument("--allow-loopback", action="store_true", default=None)
    worker.add_argument("--log-level", default="info")

    report = sub.add_parser(
        "deliveries", help="delivery queue: counts, failing servers, activities set aside"
    )
    _common(report)
    again = report.add_mutually_exclusive_group()
    again.add_argument(
        "--retry",
        type=int,
        nargs="+",
        metavar="ID",
        help="send these set-aside (or given-up) deliveries again now",
    )
    again.add_argument(
        "--retry-aside", action="store_true", help="send every set-aside delivery again now"
    )

    backup_cmd = sub.add_parser(
        "backup",
        help="a consistent snapshot of the database, the keys and a manifest "
        "(works while the server runs)",
    )
    _common(backup_cmd)
    backup_cmd.add_argument(
        "out", type=Path, help="the archive to write, e.g. forum-2026-11-29.tar.gz"
    )
    migrate = sub.add_parser(
        "migrate",
        help="bring the database to this version's schema (--check: only say what would run)",
    )
    _common(migrate)
    migrate.add_argument("--check", action="store_true")
    check = sub.add_parser(
        "check", help="integrity, foreign keys, key files, stale deliveries (exit 1 on problems)"
    )
    _common(check)
    check.add_argument("--stale-days", type=int, default=3)
    restore = sub.add_parser(
        "restore", help="unpack a backup into an empty data directory and keys directory"
    )
    _common(restore)
    restore.add_argument("archive", type=Path)
    restore.add_argument(
        "--rewrite-ids",
        action="store_true",
        help="restore under the --base-url given, though the backup is of another: every id "
        "is rewritten, and followers on other servers must follow again (README)",
    )

    moderate = sub.add_parser("moderate", help="hide, restore or delete a reply")
    _common(moderate)
    moderate.add_argument("action", choices=("hide", "restore", "delete", "approve"))
    moderate.add_argument("slug")
    moderate.add_argument("seq", type=int)
    moderate.add_argument("--reason", choices=REASONS, default="other")

    block = sub.add_parser("block", help="block a domain (and subdomains) or an actor")
    _common(block)
    block.add_argument("kind", choices=("domain", "actor"))
    block.add_argument("value")
    block.add_argument("--reason", choices=REASONS, default="spam")
    unblock = sub.add_parser("unblock", help="lift a block")
    _common(unblock)
    unblock.add_argument("kind", choices=("domain", "actor"))
    unblock.add_argument("value")
    blocks = sub.add_parser("blocks", help="list blocks, or import a Mastodon CSV blocklist")
    _common(blocks)
    blocks.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        help="Mastodon domain_blocks.csv; shows what would change",
    )
    blocks.add_argument("--apply", action="store_true", help="with --import: do it")
    blocks.add_argument("--reason", choices=REASONS, default="spam")
    reports = sub.add_parser("reports", help="reports waiting for the moderators")
    _common(reports)

    follow = sub.add_parser("follow", help="follow a discussion on another server, by handle")
    _common(follow)
    follow.add_argument("handle", help="@slug@their.server (a fedi-forum or Lemmy group)")
    follow.add_argument("--allow-loopback", action="store_true", default=None)
    unfollow = sub.add_parser("unfollow", help="stop following a discussion on another server")
    _common(unfollow)
    unfollow.add_argument("handle")
    unfollow.add_argument("--allow-loopback", action="store_true", default=None)
    following = sub.add_parser("following", help="discussions on other servers we follow")
    _common(following)

    admin = sub.add_parser("admin", help="staff accounts for /admin")
    asub = admin.add_subparsers(dest="action", required=True)
    create_user = asub.add_parser("create-user")
    _common(create_user)
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--role", choices=("admin", "moderator"), required=True)
    create_user.add_argument("--password", help="prompted for when left out")

    init = sub.add_parser("init", help="create the data directory, database and keys")
    _common(init)
    init.add_argument("--demo", action="store_true")

    disc = sub.add_parser("discussion", help="manage discussions")
    dsub = disc.add_subparsers(dest="action", required=True)
    create = dsub.add_parser("create")
    _common(create)
    create.add_argument("--slug", required=True)
    create.add_argument("--title", required=True)
    body = create.add_mutually_exclusive_group(required=True)
    body.add_argument("--body")
    body.add_argument("--body-file", type=Path)
    create.add_argument("--lang", choices=LANGUAGES, default="nl")
    create.add_argument("--summary", default="")
    edit = dsub.add_parser("edit", help="edit title, opening text or summary (federated)")
    _common(edit)
    edit.add_argument("slug")
    edit.add_argument("--title")
    edit_body = edit.add_mutually_exclusive_group()
    edit_body.add_argument("--body")
    edit_body.add_argument("--body-file", type=Path)
    edit.add_argument("--summary")
    listing = dsub.add_parser("list")
    _common(listing)
    for action in ("lock", "unlock", "close", "delete"):
        p = dsub.add_parser(action)
        _common(p)
        p.add_argument("slug")
    announce = dsub.add_parser(
        "announce",
        help="share every reply with followers (on) or only the discussion's own posts (off)",
    )
    _common(announce)
    announce.add_argument("slug")
    announce.add_argument("setting", choices=("on", "off"))
    premod = dsub.add_parser("premoderate", help="hold replies until approved (on|off)")
    _common(premod)
    premod.add_argument("slug")
    premod.add_argument("setting", choices=("on", "off"))
    return parser


def _settings(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    base_url = args.base_url
    if (
        base_url is None
        and getattr(args, "port", None) is not None
        and not environ.get("FEDI_FORUM_BASE_URL")
    ):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        base_url = f"http://{host}:{args.port}"
    return Settings.load(
        environ,
        base_url=base_url,
        data_dir=args.data_dir,
        keys_dir=args.keys_dir,
        allow_loopback=getattr(args, "allow_loopback", None),
        run_worker=getattr(args, "run_worker", None),
    )


def _explicit_base_url(args: argparse.Namespace, environ: dict[str, str]) -> bool:
    return args.base_url is not None or bool(environ.get("FEDI_FORUM_BASE_URL"))


async def _with_services(
    settings: Settings, explicit_base: bool, fn: Callable[[Settings, Discussions], Awaitable[T]]
) -> T:
    """Open the data directory, settle the base URL, run ``fn``, close."""
    db = Database(settings.db_path)
    await db.open()
    try:
        store = Store(db)
        recorded = await store.recorded_base_url()
        if recorded is not None and recorded != settings.base_url:
            if explicit_base:
                raise BaseUrlMismatch(
                    f"this data directory belongs to {recorded}; every id it published "
                    f"embeds that URL, so it cannot be served as {settings.base_url}"
                )
            settings = dataclasses.replace(settings, base_url=recorded)
        await store.claim_base_url(settings.base_url)
        key_files = KeyFiles(settings.keys_dir)
        key_files.load_or_create(INSTANCE_KEY)
        return await fn(settings, Discussions(settings, store, key_files))
    finally:
        await db.close()


def uvicorn_log_config(*, json: bool, with_client: bool, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging setup: its access line without the visitor's address unless
    asked (the about page promises no IP addresses are kept), JSON when asked, and the
    request id on every record."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    client = "%(client_addr)s - " if with_client else ""
    config["formatters"]["access"]["fmt"] = (
        f'%(levelprefix)s {client}"%(request_line)s" %(status_code)s %(request_id)s'
    )
    if json:
        config["formatters"]["default"] = {"()": logs.JsonFormatter}
        config["formatters"]["access"] = {
            "()": logs.AccessJsonFormatter,
            "with_client": with_client,
        }
    config["filters"] = {"request_id": {"()": logs.RequestIdFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    # our own loggers (fedi_forum.*) go through the same handler and format
    config["loggers"]["fedi_forum"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _serve(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    import uvicorn

    if not explicit and not (args.host in LOOPBACK_HOSTS or args.host.startswith("127.")):
        # Reachable from elsewhere, the base URL must be the public one: it is recorded
        # in the data directory on first start and every id embeds it.
        print(
            f"error: listening on {args.host} needs the public base URL: set "
            "FEDI_FORUM_BASE_URL (or --base-url), e.g. https://forum.gemeente.nl",
            file=sys.stderr,
        )
        return 2

    async def prepare(s: Settings, discussions: Discussions) -> Settings:
        if args.demo:
            await discussions.ensure_demo()
        return s

    listening = settings.base_url
    settings = asyncio.run(_with_services(settings, explicit, prepare))
    recorded = urlsplit(settings.base_url).hostname or ""
    if (
        not explicit
        and settings.base_url != listening
        and (recorded in LOOPBACK_HOSTS or recorded.startswith("127."))
    ):
        # A demo data directory made on another port (`make run PORT=…` after `make
        # run`): serving it here would publish ids and links to a port nobody listens on.
        print(
            f"error: this data directory was created for {settings.base_url}, and every id "
            f"it published embeds that URL; this server would be {listening}. Serve it on "
            f"that port, or start over with `make reset` (removes data/ and the keys) or "
            f"another --data-dir/--keys-dir.",
            file=sys.stderr,
        )
        return 2
    settings = dataclasses.replace(settings, trust_request_id=args.proxy_headers)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips or settings.trusted_proxies,
        "server_header": False,
        "date_header": True,
        # No uvicorn limit_concurrency: it counts open keep-alive connections, so a few
        # more idle connections than the limit made it refuse every request (measured).
        # The app admits max_in_flight at a time instead (web/guard.py);
        # bounding connections is the reverse proxy's job.
        "backlog": 2048,
        "access_log": not args.no_access_log,
        "log_config": uvicorn_log_config(
            json=settings.log_format == "json",
            with_client=args.log_client_addresses,
            level=args.log_level,
        ),
    }
    print(f"fedi-forum serving {settings.base_url} (listening on {args.host}:{args.port})")
    if args.workers > 1:
        os.environ[SETTINGS_ENV] = orjson.dumps(dataclasses.asdict(settings), default=str).decode()
        # prometheus-client's multiprocess mode: every worker's metrics in files here, a
        # scrape of any worker sums them (web/metrics.py). Fresh for each start.
        shared = Path(tempfile.mkdtemp(prefix="fedi-forum-metrics-"))
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(shared))
        uvicorn.run("fedi_forum.cli:app_from_env", factory=True, workers=args.workers, **options)
    else:
        from fedi_forum.app import create_app

        uvicorn.run(create_app(settings), **options)
    return 0


def app_from_env() -> Any:
    """uvicorn worker processes rebuild the parent's settings from the environment."""
    from fedi_forum.app import create_app

    values: dict[str, Any] = orjson.loads(os.environ[SETTINGS_ENV])
    return create_app(Settings.load({}, **values))


def _discussion_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    async def run(_s: Settings, discussions: Discussions) -> int:
        if args.action == "create":
            body = args.body if args.body is not None else args.body_file.read_text("utf-8")
            d = await discussions.create(
                slug=args.slug, title=args.title, body=body, lang=args.lang, summary=args.summary
            )
            print(discussions.handle(d))
            print(discussions.urls.group(d.slug))
        elif args.action == "edit":
            body = args.body_file.read_text("utf-8") if args.body_file else args.body
            d = await discussions.edit(args.slug, title=args.title, body=body, summary=args.summary)
            print(f"{discussions.handle(d)}\tedited: {d.title}")
        elif args.action == "premoderate":
            d = await discussions.set_premoderate(args.slug, args.setting == "on")
            print(f"{discussions.handle(d)}\tpre-moderation: {args.setting}")
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

    return asyncio.run(_with_services(settings, explicit, run))


def _federation(
    s: Settings, discussions: Discussions
) -> contextlib.AbstractAsyncContextManager[Federation]:
    return compose.federation(s, discussions.store, discussions.key_files)


def _remote_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
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
        async with _federation(s, discussions) as fed:
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

    return asyncio.run(_with_services(settings, explicit, run))


def _worker(settings: Settings, explicit: bool, log_level: str) -> int:
    """Run only the delivery worker until SIGINT/SIGTERM."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s %(message)s")

    async def run(s: Settings, discussions: Discussions) -> int:
        from fedi_forum.federation.delivery import DeliveryWorker

        async with _federation(s, discussions) as fed:
            worker = DeliveryWorker(
                s, discussions.store, fed.client, discussions.key_files, fed.blocklist
            )
            await worker.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(f"fedi-forum worker delivering for {s.base_url}", flush=True)
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 10)
                    await fed.blocklist.maybe_reload()
            finally:
                await worker.stop()
        return 0

    return asyncio.run(_with_services(settings, explicit, run))


def _migrate(settings: Settings, *, check_only: bool) -> int:
    """What `serve` does on start, on its own: apply the pending migrations; with
    ``check_only``, list them (exit 1 when some would run) and change nothing."""
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


def _backup_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """``backup OUT`` / ``restore ARCHIVE`` (store/backup.py)."""
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


def _deliveries(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
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

    return asyncio.run(_with_services(settings, explicit, run))


def _moderation_command(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
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

    return asyncio.run(_with_services(settings, explicit, run))


def _admin(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """admin create-user: a staff account for /admin."""
    password = args.password or getpass.getpass("password (12+ characters): ")

    async def create_user(_s: Settings, discussions: Discussions) -> int:
        staff = Staff(discussions.store, b"")
        await staff.create(args.username, password, args.role)
        print(f"created {args.role} {args.username.lower()}")
        return 0

    return asyncio.run(_with_services(settings, explicit, create_user))


def _check(args: argparse.Namespace, settings: Settings, _explicit: bool) -> int:
    """check: integrity and consistency, read-only; exit 1 with each problem in words."""
    found = check_store.problems(settings.db_path, settings.keys_dir, stale_days=args.stale_days)
    for problem in found:
        print(f"problem: {problem}")
    print("ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


def _init(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    """init: the data directory, database and instance key (and the demo with --demo)."""

    async def init(s: Settings, discussions: Discussions) -> int:
        if args.demo:
            await discussions.ensure_demo()
        print(f"initialised {s.data_dir} for {s.base_url}")
        return 0

    return asyncio.run(_with_services(settings, explicit, init))


Command = Callable[[argparse.Namespace, Settings, bool], int]

# Every command of build_parser(), and the function that runs it: a closed set.
COMMANDS: dict[str, Command] = {
    "serve": _serve,
    "init": _init,
    "discussion": _discussion_command,
    "admin": _admin,
    "moderate": _moderation_command,
    "block": _moderation_command,
    "unblock": _moderation_command,
    "blocks": _moderation_command,
    "reports": _moderation_command,
    "follow": _remote_command,
    "unfollow": _remote_command,
    "following": _remote_command,
    "worker": lambda args, settings, explicit: _worker(settings, explicit, args.log_level),
    "deliveries": _deliveries,
    "migrate": lambda args, settings, _explicit: _migrate(settings, check_only=args.check),
    "check": _check,
    "backup": _backup_command,
    "restore": _backup_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    try:
        settings = _settings(args, environ)
        return COMMANDS[args.command](args, settings, _explicit_base_url(args, environ))
    except FediForumError as exc:
        print(f"error: {exc.public_message}", file=sys.stderr)
        return 2
    except (BaseUrlMismatch, SchemaTooNew, BackupError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
