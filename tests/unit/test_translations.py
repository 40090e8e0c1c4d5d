"""Every text of the templates (and of the handlers that build texts) has its Dutch
translation: a page half in English is a defect a Dutch reader sees at once."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

WEB = Path(__file__).parents[2] / "fedi_forum" / "web"


def _template_messages() -> set[str]:
    found: set[str] = set()
    for template in [*(WEB / "templates").rglob("*.html"), *(WEB / "templates").rglob("*.xml")]:
        with template.open("rb") as f:
            for _line, _func, message, _comments in babel_extract(
                f, ("_", "gettext", "ngettext"), [], {"extensions": "jinja2.ext.i18n"}
            ):
                text = message[0] if isinstance(message, tuple) else message
                if text:
                    found.add(str(text))
    return found


def _code_messages() -> set[str]:
    """Texts passed to ``gettext(request, "…")`` in the web handlers."""
    found: set[str] = set()
    for module in WEB.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "gettext"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found.add(node.args[1].value)
    return found


def test_every_text_has_its_dutch_translation() -> None:
    with (WEB / "locale" / "nl" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted((_template_messages() | _code_messages()) - translated)
    assert missing == []
