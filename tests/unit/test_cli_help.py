"""The command line as documented: `fedi-forum --help` names every command, and the
README's command table names the same ones (a stale list once said six)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from fedi_forum.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> set[str]:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_help_and_readme_name_the_same_commands() -> None:
    documented = set(re.findall(r"^\| `fedi-forum (\w[\w-]*)", README.read_text(), re.M))
    documented |= set(re.findall(r"· `fedi-forum (\w[\w-]*)", README.read_text()))
    for alternatives in re.findall(r"^\| `fedi-forum (\w+(?:\\\|\w+)+)", README.read_text(), re.M):
        documented |= set(alternatives.split("\\|"))
    commands = _commands()
    assert commands - documented == set(), "commands missing from the README's table"
    assert documented - commands == set(), "the README names commands that do not exist"
    text = build_parser().format_help()
    assert all(name in text for name in commands)


def test_every_command_has_exactly_one_handler() -> None:
    """The dispatch is a closed set: every command the parser accepts runs its own
    function, and nothing else is dispatched."""
    from fedi_forum.cli import COMMANDS

    assert set(COMMANDS) == _commands()
