"""The command line: every command, its options and its help text."""

from __future__ import annotations

import argparse
from pathlib import Path

from fedi_forum import __version__
from fedi_forum.config import LANGUAGES
from fedi_forum.forum.moderation import REASONS
from fedi_forum.models import NoteAction


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (env FEDI_FORUM_DATA_DIR; ./data)")
    parser.add_argument("--keys-dir", help="private keys (env FEDI_FORUM_KEYS_DIR; ./keys)")
    parser.add_argument(
        "--database-url",
        help="sqlite:///path or postgresql://user:pass@host:port/db "
        "(env FEDI_FORUM_DATABASE_URL; the SQLite file in the data directory)",
    )
    parser.add_argument(
        "--secret-file",
        help="secrets sealing the private keys kept in the database (env "
        "FEDI_FORUM_SECRET_FILE; required on PostgreSQL)",
    )
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
    common_options(serve)
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
    common_options(worker)
    worker.add_argument("--allow-loopback", action="store_true", default=None)
    worker.add_argument("--log-level", default="info")

    report = sub.add_parser(
        "deliveries", help="delivery queue: counts, failing servers, activities set aside"
    )
    common_options(report)
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
    common_options(backup_cmd)
    backup_cmd.add_argument(
        "out", type=Path, help="the archive to write, e.g. forum-2026-11-29.tar.gz"
    )
    migrate = sub.add_parser(
        "migrate",
        help="bring the database to this version's schema (--check: only say what would run)",
    )
    common_options(migrate)
    migrate.add_argument("--check", action="store_true")
    db = sub.add_parser("db", help="move the database to another engine")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_copy = db_sub.add_parser(
        "copy",
        help="copy this instance's SQLite database into an empty PostgreSQL database "
        "(stop the server first; every table's rows and checksum are compared)",
    )
    common_options(db_copy)
    db_copy.add_argument("--to", required=True, help="postgresql://user:pass@host:port/db")
    keys = sub.add_parser("keys", help="private keys kept in the database (sealed)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    reseal = keys_sub.add_parser(
        "reseal",
        help="seal every key with the secret file's first line (after adding a new secret "
        "on top; then the old line may go)",
    )
    common_options(reseal)
    check = sub.add_parser(
        "check", help="integrity, foreign keys, key files, stale deliveries (exit 1 on problems)"
    )
    common_options(check)
    check.add_argument("--stale-days", type=int, default=3)
    restore = sub.add_parser(
        "restore", help="unpack a backup into an empty data directory and keys directory"
    )
    common_options(restore)
    restore.add_argument("archive", type=Path)
    restore.add_argument(
        "--rewrite-ids",
        action="store_true",
        help="restore under the --base-url given, though the backup is of another: every id "
        "is rewritten, and followers on other servers must follow again (README)",
    )

    moderate = sub.add_parser("moderate", help="hide, restore or delete a reply")
    common_options(moderate)
    moderate.add_argument("action", choices=[a.value for a in NoteAction])
    moderate.add_argument("slug")
    moderate.add_argument("seq", type=int)
    moderate.add_argument("--reason", choices=REASONS, default="other")

    block = sub.add_parser("block", help="block a domain (and subdomains) or an actor")
    common_options(block)
    block.add_argument("kind", choices=("domain", "actor"))
    block.add_argument("value")
    block.add_argument("--reason", choices=REASONS, default="spam")
    unblock = sub.add_parser("unblock", help="lift a block")
    common_options(unblock)
    unblock.add_argument("kind", choices=("domain", "actor"))
    unblock.add_argument("value")
    blocks = sub.add_parser("blocks", help="list blocks, or import a Mastodon CSV blocklist")
    common_options(blocks)
    blocks.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        help="Mastodon domain_blocks.csv; shows what would change",
    )
    blocks.add_argument("--apply", action="store_true", help="with --import: do it")
    blocks.add_argument("--reason", choices=REASONS, default="spam")
    reports = sub.add_parser("reports", help="reports waiting for the moderators")
    common_options(reports)

    follow = sub.add_parser("follow", help="follow a discussion on another server, by handle")
    common_options(follow)
    follow.add_argument("handle", help="@slug@their.server (a fedi-forum or Lemmy group)")
    follow.add_argument("--allow-loopback", action="store_true", default=None)
    unfollow = sub.add_parser("unfollow", help="stop following a discussion on another server")
    common_options(unfollow)
    unfollow.add_argument("handle")
    unfollow.add_argument("--allow-loopback", action="store_true", default=None)
    following = sub.add_parser("following", help="discussions on other servers we follow")
    common_options(following)

    admin = sub.add_parser("admin", help="staff accounts for /admin")
    asub = admin.add_subparsers(dest="action", required=True)
    create_user = asub.add_parser("create-user")
    common_options(create_user)
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--role", choices=("admin", "moderator"), required=True)
    create_user.add_argument("--password", help="prompted for when left out")
    listing = asub.add_parser("list", help="staff accounts: name, role, state")
    common_options(listing)
    for action, what in (
        ("disable", "end an account's access (its replies stay)"),
        ("enable", "let a disabled account log in again"),
        ("remove", "delete an account (its replies stay, attributed to its name)"),
    ):
        one = asub.add_parser(action, help=what)
        common_options(one)
        one.add_argument("username")
    reset = asub.add_parser("reset-password", help="a new password; every session ends")
    common_options(reset)
    reset.add_argument("username")
    reset.add_argument("--password", help="prompted for when left out")
    named = asub.add_parser("set-name", help="the name shown on pages and on Mastodon")
    common_options(named)
    named.add_argument("username")
    named.add_argument("name", help='"" shows the user name')

    imports = sub.add_parser("import", help="bring another forum's history in (docs/ning.md)")
    imports_sub = imports.add_subparsers(dest="source", required=True)
    ning = imports_sub.add_parser(
        "ning",
        help="a Ning Archiver export: discussions, comments, authors, files, old links",
    )
    common_options(ning)
    ning.add_argument("archive", type=Path, help="the folder with ning-*-local.json")
    ning.add_argument(
        "--dry-run", action="store_true", help="read everything, print what would be made"
    )
    ning.add_argument(
        "--authors",
        choices=["names", "initials", "anonymous"],
        default="names",
        help="how authors are named: full name, initials, or 'former member N'",
    )
    ning.add_argument(
        "--category-map", type=Path, help="JSON object: Ning category → label to keep"
    )
    ning.add_argument(
        "--only",
        default="discussions",
        help="what to import: discussions, blogs, or both (comma-separated)",
    )
    ning.add_argument("--closed", action="store_true", help="import as closed to new replies")
    ning.add_argument("--lang", default="nl", help="the language of the content (nl, en)")

    init = sub.add_parser("init", help="create the data directory, database and keys")
    common_options(init)
    init.add_argument("--demo", action="store_true")

    disc = sub.add_parser("discussion", help="manage discussions")
    dsub = disc.add_subparsers(dest="action", required=True)
    create = dsub.add_parser("create")
    common_options(create)
    create.add_argument("--slug", required=True)
    create.add_argument("--title", required=True)
    body = create.add_mutually_exclusive_group(required=True)
    body.add_argument("--body")
    body.add_argument("--body-file", type=Path)
    create.add_argument("--lang", choices=LANGUAGES, default="nl")
    create.add_argument("--summary", default="")
    create.add_argument("--category", help="the category's slug (docs/categories.md)")
    create.add_argument(
        "--author",
        help="the staff member named as the opening post's author (forum servers such as "
        "Lemmy take a post only from a person: docs/rules.md §18)",
    )
    edit = dsub.add_parser("edit", help="edit title, opening text or summary (federated)")
    common_options(edit)
    edit.add_argument("slug")
    edit.add_argument("--title")
    edit_body = edit.add_mutually_exclusive_group()
    edit_body.add_argument("--body")
    edit_body.add_argument("--body-file", type=Path)
    edit.add_argument("--summary")
    edit.add_argument("--category", help="file it under this category ('' for none)")
    listing = dsub.add_parser("list")
    common_options(listing)
    for action in ("lock", "unlock", "close", "delete"):
        p = dsub.add_parser(action)
        common_options(p)
        p.add_argument("slug")
    announce = dsub.add_parser(
        "announce",
        help="share every reply with followers (on) or only the discussion's own posts (off)",
    )
    common_options(announce)
    announce.add_argument("slug")
    announce.add_argument("setting", choices=("on", "off"))
    pin = dsub.add_parser("pin", help="pin it in its category's featured posts and page (on|off)")
    common_options(pin)
    pin.add_argument("slug")
    pin.add_argument("setting", choices=("on", "off"))
    premod = dsub.add_parser("premoderate", help="hold replies until approved (on|off)")
    common_options(premod)
    premod.add_argument("slug")
    premod.add_argument("setting", choices=("on", "off"))

    search = sub.add_parser("search", help="the search index (docs/search.md)")
    ssub = search.add_subparsers(dest="action", required=True)
    reindex = ssub.add_parser("reindex", help="build the index afresh from the messages")
    common_options(reindex)

    cat = sub.add_parser("category", help="manage categories (docs/categories.md)")
    csub = cat.add_subparsers(dest="action", required=True)
    ccreate = csub.add_parser("create", help="a category: a Group actor of its own")
    common_options(ccreate)
    ccreate.add_argument("--slug", required=True)
    ccreate.add_argument("--name", required=True)
    ccreate.add_argument("--description", default="")
    ccreate.add_argument("--lang", choices=LANGUAGES, default=None)
    cedit = csub.add_parser("edit", help="a new name or description (federated)")
    common_options(cedit)
    cedit.add_argument("slug")
    cedit.add_argument("--name")
    cedit.add_argument("--description")
    cedit.add_argument(
        "--posting",
        choices=("open", "held", "closed"),
        help="a post that mentions it starts a discussion at once, after a moderator's "
        "approval (default), or never",
    )
    cedit.add_argument(
        "--relay",
        choices=("on", "off"),
        help="boost every reply of its discussions too (on), or only new discussions (off, "
        "the default)",
    )
    clist = csub.add_parser("list")
    common_options(clist)
    return parser
