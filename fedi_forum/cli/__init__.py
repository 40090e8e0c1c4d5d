"""fedi-forum: a federated discussion server; every discussion is an ActivityPub Group.

Each command below has its own --help. Every command works on the same data directory,
also while a server runs on it (SQLite WAL; the server reads discussions from the
database on every request).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from fedi_forum.cli.commands import (
    admin_command,
    backup_command,
    category_command,
    check_command,
    db_command,
    deliveries_command,
    discussion_command,
    import_command,
    init_command,
    keys_command,
    migrate,
    moderation_command,
    remote_command,
    search_command,
)
from fedi_forum.cli.context import BaseUrlMismatch, explicit_base_url, settings_from
from fedi_forum.cli.parser import build_parser
from fedi_forum.cli.serve import serve, worker
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError
from fedi_forum.store.backup import BackupError
from fedi_forum.store.db import SchemaTooNew

__all__ = ["COMMANDS", "build_parser", "main"]


Command = Callable[[argparse.Namespace, Settings, bool], int]


# Every command of build_parser(), and the function that runs it: a closed set.
COMMANDS: dict[str, Command] = {
    "serve": serve,
    "init": init_command,
    "discussion": discussion_command,
    "category": category_command,
    "search": search_command,
    "admin": admin_command,
    "moderate": moderation_command,
    "block": moderation_command,
    "unblock": moderation_command,
    "blocks": moderation_command,
    "reports": moderation_command,
    "follow": remote_command,
    "unfollow": remote_command,
    "following": remote_command,
    "worker": lambda args, settings, explicit: worker(settings, explicit, args.log_level),
    "deliveries": deliveries_command,
    "migrate": lambda args, settings, _explicit: migrate(settings, check_only=args.check),
    "check": check_command,
    "db": db_command,
    "keys": keys_command,
    "import": import_command,
    "backup": backup_command,
    "restore": backup_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    try:
        settings = settings_from(args, environ)
        return COMMANDS[args.command](args, settings, explicit_base_url(args, environ))
    except FediForumError as exc:
        print(f"error: {exc.public_message}", file=sys.stderr)
        return 2
    except (BaseUrlMismatch, SchemaTooNew, BackupError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
