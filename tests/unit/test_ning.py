"""Reading Ning exports and their HTML (forum/ning_archive, forum/ning_content), and the
files they bring (store/archive_files): every quirk of real exports, hostile input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fedi_forum.cli import progress
from fedi_forum.forum import ning_archive as archive
from fedi_forum.forum.members import initials, member_name
from fedi_forum.forum.ning_content import ning_html
from fedi_forum.forum.ning_import import _archive_path
from fedi_forum.store.archive_files import MAX_FILE, ArchiveFiles, Refused
from fedi_forum.store.imports import MemberRow
from tests.support import ning

SAMPLE = Path(__file__).parents[1] / "fixtures" / "ning-archive-sample"  # docs/ning.md


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "ning-discussions-local.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 16])
def test_objects_are_split_whatever_wraps_them_and_wherever_chunks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(archive, "CHUNK", chunk)
    data = (
        b'\xef\xbb\xbf( [\r\n{"id": "1:Topic:1", "title": "a {b} \\"c\\" \\\\", "n": {"x": [1]}}'
        b'{"id": "1:Topic:2"},\r\n{"id": "1:Topic:3", "t": "}{"}\r\n] )'
    )
    found = list(archive.iter_objects(_write(tmp_path, data)))
    assert [o["id"] for o in found] == ["1:Topic:1", "1:Topic:2", "1:Topic:3"]
    assert found[0]["title"] == 'a {b} "c" \\'
    assert found[2]["t"] == "}{"


def test_broken_archives_are_refused_with_where(tmp_path: Path) -> None:
    with pytest.raises(archive.ArchiveError, match="ends inside an object"):
        list(archive.iter_objects(_write(tmp_path, b'( [ {"id": "1", "x": {')))
    with pytest.raises(archive.ArchiveError, match="unreadable object ending at byte"):
        list(archive.iter_objects(_write(tmp_path, b'( [ {"id": 1,} ] )')))
    with pytest.raises(archive.ArchiveError, match="cannot read"):
        list(archive.iter_objects(tmp_path / "missing.json"))


def test_an_object_past_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_OBJECT", 100)
    monkeypatch.setattr(archive, "CHUNK", 16)
    with pytest.raises(archive.ArchiveError, match="over 100 bytes"):
        list(archive.iter_objects(_write(tmp_path, b'[{"id": "' + b"x" * 500 + b'"}]')))


def test_topics_come_with_comments_oldest_first_and_fields_checked(tmp_path: Path) -> None:
    ning.write_archive(tmp_path)
    topics = list(archive.read_topics(tmp_path, "discussions"))
    assert topics[-1] == "an item without an id"
    wegen = topics[0]
    assert isinstance(wegen, archive.Topic)
    assert wegen.title == "Wegen & bruggen <2009>"
    assert [c.created for c in wegen.comments] == sorted(c.created for c in wegen.comments)
    assert wegen.created == "2009-07-01T09:00:00Z"
    assert wegen.views == 1234
    odd = archive._topic({"id": "1:Topic:9", "createdDate": "gisteren"}, "discussions")
    assert odd == "1:Topic:9: no valid createdDate"
    typed = archive._topic(
        {
            "id": "1:Topic:8",
            "createdDate": "2009-01-01T00:00:00.000Z",
            "title": ["not", "text"],
            "comments": [{"id": "c"}, "junk", {"id": "d", "createdDate": "2009-01-02T00:00:00Z"}],
            "viewCount": -5,
            "fileAttachments": "not a list",
        },
        "discussions",
    )
    assert isinstance(typed, archive.Topic)
    assert typed.title == "1:Topic:8"
    assert [c.id for c in typed.comments] == ["d"]
    assert typed.views == 0
    assert typed.attachments == ()


def test_the_design_sample_reads_completely() -> None:
    members = archive.read_members(SAMPLE)
    topics = [t for t in archive.read_topics(SAMPLE, "discussions") if not isinstance(t, str)]
    assert len(members) == 30
    assert len(topics) == 8
    assert sum(len(t.comments) for t in topics) == 77


def test_slugs_ours_and_ning_s() -> None:
    assert archive.ning_slug("Wat betekent de Woo voor ons team?") == (
        "wat-betekent-de-woo-voor-ons-team"
    )
    assert archive.ning_slug("Café  &  Crème") == archive.ning_slug("cafe-crème")
    assert archive.our_slug("Wat betekent de Woo voor ons team?") == "wat_betekent_de_woo_voor_ons"
    assert archive.our_slug("???") == ""
    assert len(archive.our_slug("x" * 80)) == 30


def _resolve(ref: str) -> str | None:
    return "https://forum.example/files/ning/foto.jpg" if ref.startswith("discussions/f") else None


@pytest.mark.parametrize(
    ("body", "present", "absent"),
    [
        ("<p>a<script>alert(1)</script>b</p>", "<p>ab</p>", "alert"),
        ('<p onclick="x()" style="color:red">t</p>', "<p>t</p>", "onclick"),
        ('<a href="javascript:alert(1)">klik</a>', "klik", "javascript"),
        (
            '<iframe src="//www.youtube.com/embed/dQw4w9WgXcQ?wmode=opaque"></iframe>',
            'href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"',
            "iframe",
        ),
        ('<iframe src="https://evil.example/"><p>inside</p></iframe>ok', "ok", "inside"),
        (
            '<a href="discussions/foto.jpg" target="_self">'
            '<img src="discussions/foto.jpg?w=1"></a>',
            'href="https://forum.example/files/ning/foto.jpg"',
            "target",
        ),
        ('<img src="discussions/missing.jpg" alt="kaart">', "", "missing"),
        ('<a href="discussions/missing.pdf">rapport</a>', "rapport", "href"),
        ("<style>p{}</style><p>x</p>", "<p>x</p>", "p{}"),
        ("regel 1\r\nregel 2", "regel 1\nregel 2", "\r"),
    ],
)
def test_ning_html_is_rewritten_then_sanitised(body: str, present: str, absent: str) -> None:
    html = ning_html(body, _resolve)
    assert present in html
    assert absent not in html


def test_an_empty_body_stays_empty() -> None:
    assert ning_html("<p> </p><br>\r\n", _resolve) == ""


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("discussions/83-125.jpg?width=737", "discussions/83-125.jpg"),
        ("photos/IMG 001 (2).jpg", "photos/IMG 001 (2).jpg"),
        ("../keys/instance.pem", None),
        ("discussions/../../etc/passwd", None),
        ("/etc/passwd", None),
        ("discussions/.hidden.jpg", None),
        ("", None),
    ],
)
def test_archive_paths_stay_in_the_archive(ref: str, path: str | None) -> None:
    assert _archive_path(ref) == path


def test_archive_files_are_what_their_names_say_and_stay_in_their_folder(tmp_path: Path) -> None:
    source = tmp_path / "export"
    source.mkdir()
    (source / "a.jpg").write_bytes(ning.JPEG)
    (source / "fake.jpg").write_bytes(b"<svg onload=alert(1)>")
    (source / "page.html").write_bytes(b"<html>")
    (source / "big.pdf").write_bytes(b"%PDF-" + bytes(MAX_FILE))
    files = ArchiveFiles(tmp_path / "files")
    assert files.add(source / "a.jpg", "ning/a.jpg") == "ning/a.jpg"
    assert files.add(source / "fake.jpg", "ning/fake.jpg") is Refused.TYPE
    assert files.add(source / "page.html", "ning/page.html") is Refused.TYPE
    assert files.add(source / "big.pdf", "ning/big.pdf") is Refused.SIZE
    assert files.add(source / "gone.jpg", "ning/gone.jpg") is Refused.MISSING
    assert files.add(source / "a.jpg", "ning/b.jpg", copy=False) == "ning/b.jpg"
    assert not (tmp_path / "files" / "ning" / "b.jpg").exists()  # checked, not copied
    found = files.find("ning/a.jpg")
    assert found is not None
    assert found[1:] == ("image/jpeg", True)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "files" / "ning" / "link.png").symlink_to(tmp_path / "secret.png")
    (tmp_path / "files" / "ning" / ".a.jpg").write_bytes(ning.JPEG)  # hidden: never served
    for rel in ("ning/../../secret.png", "ning/link.png", "ning/.a.jpg", "ning/a.exe", "/a.jpg"):
        assert files.find(rel) is None, rel


def test_members_are_named_as_the_import_chose() -> None:
    assert initials("Lotte van der Linden") == "L.v.d.L."
    named = MemberRow("ning.3", "Lotte van der Linden", True, 3, "2026-01-01T00:00:00Z")
    former = MemberRow("ning.4", "", True, 4, "2026-01-01T00:00:00Z")
    unknown = MemberRow("ning.5", "", False, 5, "2026-01-01T00:00:00Z")
    assert member_name(named, "nl") == "Lotte van der Linden"
    assert (member_name(former, "nl"), member_name(former, "en")) == (
        "oud-lid 4",
        "former member 4",
    )
    assert member_name(unknown, "en") == "unknown member 5"


def test_progress_is_a_line_now_and_then_off_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    stream = io.StringIO()  # not a terminal: no bar, no control characters
    topic = archive._topic(
        {"id": "1:Topic:1", "createdDate": "2009-01-01T00:00:00Z", "comments": []},
        "discussions",
    )
    assert isinstance(topic, archive.Topic)
    with progress.ImportProgress(stream) as shown:
        shown.topic(topic)
        shown.topic(topic)
    assert stream.getvalue().splitlines()[-1] == "… 2 discussions, 2 messages read"
    assert "\r" not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2009-07-01T09:00:00.000Z", "2009-07-01T09:00:00Z"),  # Ning's form
        ("2009-07-01T11:00:00+02:00", "2009-07-01T09:00:00Z"),
        ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00Z"),  # four digits, reads back
        ("0001-01-01T00:00:00+01:00", None),  # no UTC form
        ("9999-12-31T23:30:00Z", None),  # year 10000 in Amsterdam: no page shows it
        ("gisteren", None),
    ],
)
def test_ning_times_are_read_as_remote_ones_are(text: str, expected: str | None) -> None:
    assert archive.ning_time(text) == expected
