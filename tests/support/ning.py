"""A Ning Archiver export as real ones come (docs/ning.md, "The export"): parentheses
around the array, missing commas, CRLF, newest first, escaped titles, hostile HTML,
unknown authors, empty bodies, a topic twice, files present, missing and lying about
their type, and one long discussion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

NETWORK = "2117379"
EMAIL = "annemiek29@gemeente.example"
BIRTHDATE = "1971-03-14"
LOCATION = "Zoetermeer-Noord"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200)
LONG_COMMENTS = 120


def ning_id(kind: str, n: int) -> str:
    return f"{NETWORK}:{kind}:{n}"


def when(day: int, minute: int = 0) -> str:
    return f"2009-07-{day:02d}T09:{minute:02d}:00.000Z"


def _members() -> list[dict[str, Any]]:
    return [
        {
            "contributorName": "annemiek29",
            "fullName": "Annemiek Hendriks",
            "email": EMAIL,
            "birthdate": BIRTHDATE,
            "createdDate": "2009-01-01T09:00:00.000Z",
            "level": "admin",  # never becomes a staff right
            "state": "active",
            "profilePhoto": "members/annemiek29.jpg?xn_version=2",
            "location": LOCATION,
            "country": "NL",
            "profileQuestions": {"About Me": f"Woont in {LOCATION}"},
        },
        {
            "contributorName": "lotte5",
            "fullName": "Lotte van der Linden",
            "email": "lotte5@gemeente.example",
            "createdDate": "2009-01-02T09:00:00.000Z",
            "level": "member",
            "state": "left",
        },
    ]


def _comment(n: int, author: str, body: str, day: int, minute: int = 0) -> dict[str, Any]:
    return {
        "id": ning_id("Comment", n),
        "contributorName": author,
        "description": body,
        "createdDate": when(day, minute),
    }


def topics() -> list[dict[str, Any]]:
    """Newest first, as exports list them; comments newest first too."""
    hostile = [
        _comment(
            3,
            "ghost99",  # not in the members file
            '<p>Kijk <iframe src="//www.youtube.com/embed/dQw4w9WgXcQ?wmode=opaque"></iframe>'
            '</p>\r\n<p><a href="discussions/weg.pdf" target="_blank">het rapport</a></p>',
            3,
        ),
        _comment(2, "lotte5", "", 2),  # an empty body
        _comment(
            1,
            "lotte5",
            '<p style="color:red" onclick="steal()">Eens!<script>alert(1)</script></p>\r\n'
            '<p><a href="discussions/foto.jpg"><img src="discussions/foto.jpg?width=737" '
            'onerror="x()"></a> <img src="discussions/nep.jpg"></p>',
            1,
            30,
        ),
    ]
    wegen = {
        "id": ning_id("Topic", 1),
        "contributorName": "annemiek29",
        "title": "Wegen &amp; bruggen &lt;2009&gt;",
        "description": "<p>Hoe gaan <b>jullie</b> hiermee om?</p>",
        "createdDate": when(1),
        "updatedDate": when(3),
        "category": "Digitalisering",
        "viewCount": 1234,
        "comments": hostile,
    }
    long = {
        "id": ning_id("Topic", 2),
        "contributorName": "lotte5",
        "title": "Een lange discussie",
        "description": "<p>Veel reacties</p>",
        "createdDate": when(4),
        "category": "Uncategorized",
        "groupId": ning_id("Group", 1),
        "comments": [
            _comment(1000 + i, ("annemiek29", "lotte5")[i % 2], f"<p>reactie {i}</p>", 5, 0)
            | {"createdDate": f"2009-07-05T{i // 60:02d}:{i % 60:02d}:00.000Z"}
            for i in reversed(range(LONG_COMMENTS))
        ],
    }
    same_title = {
        "id": ning_id("Topic", 3),
        "contributorName": "annemiek29",
        "title": "Wegen &amp; bruggen &lt;2009&gt;",  # the same title: another slug
        "description": "<p>Nog een keer</p>",
        "createdDate": when(6),
        "comments": [],
    }
    return [same_title, long, wegen]


def write_archive(directory: Path, items: list[dict[str, Any]] | None = None) -> Path:
    """The export in ``directory``: parentheses, `}{` without a comma, CRLF; the
    discussion with hostile HTML twice (the second time with one more comment); an
    item without an id; the files it refers to, one missing, one lying."""
    directory.mkdir(parents=True, exist_ok=True)
    items = topics() if items is None else items
    wegen = next((t for t in items if t["id"] == ning_id("Topic", 1)), None)
    listed = list(items)
    if wegen is not None:
        later = dict(wegen) | {
            "comments": [_comment(4, "annemiek29", "<p>Nog iets</p>", 3, 30), *wegen["comments"]]
        }
        listed = [later, *listed, {"title": "zonder id"}]
    (directory / "ning-discussions-local.json").write_bytes(_quirky(listed))
    (directory / "ning-members-local.json").write_bytes(_quirky(_members()))
    (directory / "ning-groups-local.json").write_bytes(
        _quirky([{"id": ning_id("Group", 1), "title": "Digitale gemeente"}])
    )
    files = directory / "discussions"
    files.mkdir(exist_ok=True)
    (files / "foto.jpg").write_bytes(JPEG)
    (files / "weg.pdf").write_bytes(b"<html><script>alert(1)</script></html>")  # not a PDF
    return directory


def _quirky(items: list[dict[str, Any]]) -> bytes:
    """How the Archiver writes: ``( [`` … ``] )``, CRLF, and no comma between objects."""
    body = b"\r\n".join(orjson.dumps(item, option=orjson.OPT_INDENT_2) for item in items)
    return b"( [\r\n" + body.replace(b"\n", b"\r\n") + b"\r\n] )"


def expected_messages() -> int:
    """Messages the full archive makes: 3 openings, wegen's 4 comments, the long one's."""
    return 3 + 4 + LONG_COMMENTS
