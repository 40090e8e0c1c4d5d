"""The layers of docs/architecture.md ("Layers"): a module imports only from layers above
it, and the catalog translates every string the templates show."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.extract import extract_from_dir

from fedi_forum.web.i18n import load_translations

PACKAGE = Path(__file__).parents[2] / "fedi_forum"
# Each layer may import itself and the layers listed before it.
LAYERS = ["leaf", "activitypub", "store", "federation", "forum", "web", "top"]
LEAVES = {"config", "errors", "models", "logs", "telemetry", "tasks", "__init__"}
THIRD_PARTY_ONLY_IN = {
    "starlette": {"web", "top"},
    "uvicorn": {"top"},
    "aiosqlite": {"store"},
    "asyncpg": {"store"},
    "psycopg": {"store"},
    "aiohttp": {"federation"},
    "jinja2": {"web"},
    "prometheus_client": {"web", "top"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in LEAVES:
        return "leaf"
    if parts[1] in ("app", "cli", "compose", "__main__"):
        return "top"
    return parts[1]


def test_imports_point_down_the_layers() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        module = "fedi_forum." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        layer = _layer(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                root = name.split(".")[0]
                if root == "fedi_forum":
                    target = _layer(name)
                    if LAYERS.index(target) > LAYERS.index(layer):
                        problems.append(f"{module} ({layer}) imports {name} ({target})")
                elif root in THIRD_PARTY_ONLY_IN and layer not in THIRD_PARTY_ONLY_IN[root]:
                    problems.append(f"{module} ({layer}) imports {root}")
    assert problems == []


def test_every_template_string_has_a_dutch_translation() -> None:
    nl = load_translations("nl")
    missing = []
    for _, _, message, _, _ in extract_from_dir(
        PACKAGE / "web" / "templates",
        method_map=[("**.html", "jinja2"), ("**.xml", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        if isinstance(message, tuple):
            if nl.ngettext(message[0], message[1], 1) == message[0]:
                missing.append(message[0])
        elif nl.gettext(message) == message and message not in SAME_IN_DUTCH:
            missing.append(message)
    # texts the handlers build (``gettext(request, "…")`` in web/), not in a template
    for module in (PACKAGE / "web").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "gettext"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and nl.gettext(node.args[1].value) == node.args[1].value
            ):
                missing.append(node.args[1].value)
    assert missing == []


# words that are the same in Dutch
SAME_IN_DUTCH = (
    "Privacy",
    "Site",
    "Feeds",
    "Servers",
    "Server",
    "Software",
    "Dialect",
    "open",
    "moderator",
    "account",
    "server",
    "Avatar",
)


def test_the_store_is_its_parts_and_no_part_shadows_another() -> None:
    """A method defined in two parts would silently resolve to the first base's: the
    store is split by entity only if each operation has exactly one home."""
    from fedi_forum.store.store import Store

    parts = Store.__bases__
    homes: dict[str, list[str]] = {}
    for part in parts:
        for name, value in vars(part).items():
            if callable(value) and not name.startswith("__"):
                homes.setdefault(name, []).append(part.__name__)
    assert {name: parts for name, parts in homes.items() if len(parts) > 1} == {}
    # and each part is one module named for its entity
    assert len({part.__module__ for part in parts}) == len(parts)


def test_templates_link_to_our_pages_by_route_name() -> None:
    """A path written out in a template drifts from ``web.routes`` unnoticed; ``path()``
    fails at render time when a route is renamed."""
    import re

    written_out = re.compile(r"""(?:href|action|src)=["']/(?!/)|button\(["']/""")
    found = [
        f"{template.relative_to(PACKAGE)}:{n}"
        for template in (PACKAGE / "web" / "templates").rglob("*.html")
        for n, line in enumerate(template.read_text().splitlines(), 1)
        if written_out.search(line)
    ]
    assert found == []
