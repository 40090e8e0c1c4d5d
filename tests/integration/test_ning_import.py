"""`fedi-forum import ning` as an operator runs it — the real command on a running
instance's data — and what everyone then sees over real HTTP: pages, ActivityPub, the
old Ning links, the files, and another instance following an imported discussion."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import orjson
import pytest

from fedi_forum.models import RemoteGroupState
from tests.conftest import Live, live_instance
from tests.integration.test_instances import cli, until
from tests.support import ning
from tests.support.db import queued_deliveries
from tests.support.process import clean_env
from tests.support.remote import RemoteServer

AS2 = {"Accept": "application/activity+json"}


def run_cli_plain(*args: str) -> subprocess.CompletedProcess[str]:
    """A command on no running instance (restore into new directories)."""
    return subprocess.run(
        [sys.executable, "-m", "fedi_forum", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )


NL = {"Accept-Language": "nl"}


async def _import(live: Live, archive: Path, *extra: str) -> str:
    done = await cli(live, "import", "ning", str(archive), *extra)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


async def test_a_hostile_archive_imports_once_and_reads_like_the_forum_it_was(
    live: Live, tmp_path: Path, remote: RemoteServer
) -> None:
    archive = ning.write_archive(tmp_path / "export")
    dry = await _import(live, archive, "--dry-run")
    assert "dry run, nothing written" in dry
    assert "3 would be created" in dry
    assert "127 would be added" in dry
    assert await live.store.discussions() == []  # nothing written

    out = await _import(live, archive)
    assert "3 were created, 0 extended, 1 already complete" in out
    assert f"{ning.expected_messages()} were added" in out
    assert "authors: 3 (1 not in the members file" in out
    assert "files: 1 copied, 1 missing from the archive, 1 refused" in out
    assert "empty bodies: 1" in out
    assert "skipped: 1 × an item without an id" in out

    again = await _import(live, archive)  # idempotent: keyed by the Ning ids
    assert "0 were created, 0 extended, 4 already complete" in again  # one listed twice
    assert f"0 were added, {ning.expected_messages() + 4} already imported" in again

    listed = {d.title: d for d, _ in await live.store.discussions()}
    assert set(listed) == {"Wegen & bruggen <2009>", "Een lange discussie"}
    wegen = next(d for d, _ in await live.store.discussions() if d.slug == "wegen_bruggen_2009")
    assert wegen.views == 1234
    assert wegen.label == "Digitalisering"
    assert await live.store.discussion("wegen_bruggen_2009_2") is not None  # same title
    long = listed["Een lange discussie"]
    assert long.label == "Digitale gemeente"  # "Uncategorized" with a Ning group
    assert long.reply_count == ning.LONG_COMMENTS
    assert wegen.reply_count == 4

    # The page: title unescaped (and escaped again as HTML), messages oldest first with
    # their original dates and authors, nothing of the hostile HTML
    page = (await live.client.get("/d/wegen_bruggen_2009", headers=NL)).text
    assert "<h1>Wegen &amp; bruggen &lt;2009&gt;</h1>" in page
    assert "Overgenomen van het Ning-forum" in page
    assert "Categorie: Digitalisering" in page
    order = [page.index(s) for s in ("Hoe gaan", "Eens!", "(zonder tekst)", "Kijk", "Nog iets")]
    assert order == sorted(order)
    assert 'datetime="2009-07-01T09:30:00Z"' in page
    assert "Annemiek Hendriks" in page
    assert "Lotte van der Linden" in page
    assert "onbekend lid" in page  # ghost99
    for hostile in ("<script", "onclick", "onerror", "style=", "<iframe", "steal()"):
        assert hostile not in page
    assert 'href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"' in page
    photo = f"{live.base_url}/files/ning/discussions/foto.jpg"
    assert f'href="{photo}"' in page
    assert f'<img src="{photo}" alt="foto.jpg" loading="lazy">' in page  # shown, from us
    assert "nep.jpg" not in page.replace("[nep.jpg]", "")  # a missing file links nowhere
    assert "weg.pdf" not in page  # the file that lied about its type is not linked

    # The files: served with their checked type, never anything else from the folder
    got = await live.client.get("/files/ning/discussions/foto.jpg")
    assert got.status_code == 200
    assert got.content == ning.JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    for path in (
        "/files/ning/discussions/weg.pdf",
        "/files/ning/discussions/nep.jpg",
        "/files/ning/../fedi-forum.sqlite3",
        "/files/ning/%2e%2e/%2e%2e/keys/instance.pem",
        "/files/fedi-forum.sqlite3",
    ):
        assert (await live.client.get(path)).status_code == 404, path

    # ActivityPub: each message at our note URL, attributed to its author, with its
    # original date; the outbox and the context list them; the authors are Persons
    base = f"{live.base_url}/d/wegen_bruggen_2009"
    first = (await live.client.get(f"{base}/m/1", headers=AS2)).json()
    assert first["published"] == "2009-07-01T09:30:00Z"
    assert first["inReplyTo"] == f"{base}/m/0"
    author = (await live.client.get(first["attributedTo"], headers=AS2)).json()
    assert author["type"] == "Person"
    assert author["name"] == "Lotte van der Linden"
    assert "BEGIN PUBLIC KEY" in author["publicKey"]["publicKeyPem"]
    handle = author["preferredUsername"]
    finger = await live.client.get(
        "/.well-known/webfinger", params={"resource": f"acct:{handle}@{live.domain}"}
    )
    assert finger.json()["links"][0]["href"] == first["attributedTo"]
    context = (await live.client.get(f"{base}/context", headers=AS2)).json()
    assert context["orderedItems"] == [f"{base}/m/{n}" for n in range(5)]
    outbox = (await live.client.get(f"{base}/outbox?page=true", headers=AS2)).json()
    assert {i["object"] for i in outbox["orderedItems"]} == {f"{base}/m/{n}" for n in range(5)}
    assert await queued_deliveries(live.store) == []  # an import sends nothing

    # The old links: 301 to the discussion, or to the message's place on its page
    moved = {
        "/forum/topics/wegen-bruggen-2009": f"{base}",
        f"/forum/topics/{ning.ning_id('Topic', 1)}": f"{base}",
        f"/xn/detail/{ning.ning_id('Comment', 3)}": f"{base}#m3",
        f"/forum/topics/x?commentId={ning.ning_id('Comment', 4)}": f"{base}#m4",
        f"/xn/detail/{ning.ning_id('Comment', 1119)}": (
            f"{live.base_url}/d/een_lange_discussie?after=100#m120"
        ),
    }
    for old, new in moved.items():
        answer = await live.client.get(old)
        assert (answer.status_code, answer.headers.get("location")) == (301, new), old
    for unknown in ("/forum/topics/nothing-here", "/xn/detail/1:Comment:1", "/xn/detail/x"):
        assert (await live.client.get(unknown)).status_code == 404

    # Personal data of the archive is nowhere: pages, documents, feeds, the command
    seen = [dry, out, page, orjson.dumps(author).decode()]
    for path in ("/", "/feed.rss", "/d/wegen_bruggen_2009/feed.atom", f"{base}/m/0"):
        seen.append((await live.client.get(path, headers=AS2 if "/m/" in path else NL)).text)
    for secret in (ning.EMAIL, ning.BIRTHDATE, ning.LOCATION, "annemiek29", "ghost99"):
        assert not any(secret in text for text in seen), secret

    # Open for new replies from the fediverse, numbered after the history
    alice = remote.actor("alice")
    note = alice.note("Nog steeds actueel", in_reply_to=f"{base}/m/2", mention=base)
    assert (await alice.post(live.client, f"{base}/inbox", alice.create(note))).status_code == 202
    assert (await live.store.note(wegen.id, 5)) is not None


async def test_the_sample_export_imports_with_blogs(live: Live) -> None:
    """The clean sample of the design notes (tests/fixtures): 8 discussions with 77
    comments and 2 blog posts; its file links point to files it does not hold."""
    sample = Path(__file__).parents[1] / "fixtures" / "ning-archive-sample"
    out = await _import(live, sample, "--only", "discussions,blogs", "--authors", "initials")
    assert "10 were created" in out
    assert "87 were added" in out
    assert "authors: 30 (0 not in the members file" in out
    assert "22 missing from the archive" in out
    blog = await live.client.get("/profiles/blogs/blog-participatie-bij-de-omgevingswet")
    assert blog.status_code == 301
    assert blog.headers["location"].endswith("/d/blog_participatie_bij_de")


async def test_authors_can_be_renamed_and_imports_closed(live: Live, tmp_path: Path) -> None:
    """--authors anonymous names nobody (a re-run renames those already imported);
    --closed refuses new replies."""
    archive = ning.write_archive(tmp_path / "export")
    await _import(live, archive, "--authors", "initials", "--closed")
    page = (await live.client.get("/d/wegen_bruggen_2009", headers=NL)).text
    assert "A.H." in page
    assert "Annemiek" not in page
    assert "Gesloten: deze discussie accepteert geen reacties meer." in page
    await _import(live, archive, "--authors", "anonymous")
    english = await live.client.get("/d/wegen_bruggen_2009", headers={"Accept-Language": "en"})
    page = english.text
    assert "former member" in page
    assert "A.H." not in page
    assert "unknown member" in page


async def test_an_import_cut_short_resumes_and_a_larger_export_adds_only_what_is_new(
    live: Live, tmp_path: Path
) -> None:
    full = ning.write_archive(tmp_path / "full")
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    data = (cut / "ning-discussions-local.json").read_bytes()
    (cut / "ning-discussions-local.json").write_bytes(data[: len(data) * 2 // 3])
    done = await cli(live, "import", "ning", str(cut))
    assert done.returncode == 2  # the truncated file: a clear error, no traceback
    assert "ends inside an object" in done.stderr
    assert "Traceback" not in done.stderr
    before = len(await live.store.discussions())
    assert before >= 1  # what came before the cut was imported
    out = await _import(live, full)
    assert f"{3 - before} were created" in out
    slugs = sorted(d.slug for d, _ in await live.store.discussions())
    assert slugs == ["een_lange_discussie", "wegen_bruggen_2009", "wegen_bruggen_2009_2"]
    long = await live.store.discussion("een_lange_discussie")
    assert long is not None
    assert long.last_seq == ning.LONG_COMMENTS  # none twice, none lost


async def test_unreadable_archives_are_refused_in_words(live: Live, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ning-discussions-local.json").write_text('( [ {"id": "1:Topic:1", "title": } ] )')
    for folder, words in (
        (tmp_path / "nowhere", "is not a folder"),
        (empty, "not a Ning archive"),
        (broken, "unreadable object"),
    ):
        done = await cli(live, "import", "ning", str(folder))
        assert done.returncode == 2, folder
        assert words in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.sqlite_only
async def test_another_instance_following_an_imported_discussion_gets_its_history(
    tmp_path: Path,
) -> None:
    async with live_instance(tmp_path / "a") as a, live_instance(tmp_path / "b") as b:
        await _import(a, ning.write_archive(tmp_path / "export"))
        done = await cli(b, "follow", f"@wegen_bruggen_2009@{a.domain}", "--allow-loopback")
        assert done.returncode == 0, done.stderr
        group_id = f"{a.base_url}/d/wegen_bruggen_2009"

        async def backfilled() -> bool:
            g = await b.store.remote_group(group_id)
            return g is not None and g.state is RemoteGroupState.ACCEPTED and g.note_count == 5

        await until(backfilled, 30)
        g = await b.store.remote_group(group_id)
        assert g is not None
        notes = await b.store.remote_notes_page(g.id, 0, 50)
        assert [n.published for n in notes][:2] == ["2009-07-01T09:00:00Z", "2009-07-01T09:30:00Z"]
        assert notes[1].author.name == "Lotte van der Linden"


@pytest.mark.sqlite_only  # backup copies the SQLite file; PostgreSQL has pg_dump (docs)
async def test_a_backup_keeps_the_imported_files_and_a_restore_checks_their_names(
    live: Live, tmp_path: Path
) -> None:
    await _import(live, ning.write_archive(tmp_path / "export"))
    archive = tmp_path / "backup.tar.gz"
    done = await cli(live, "backup", str(archive))
    assert done.returncode == 0, done.stderr
    home = tmp_path / "restored"
    target = ["--data-dir", str(home / "data"), "--keys-dir", str(home / "keys")]
    restored = run_cli_plain("restore", str(archive), *target)
    assert restored.returncode == 0, restored.stderr
    assert (home / "data" / "files" / "ning" / "discussions" / "foto.jpg").read_bytes() == (
        ning.JPEG
    )

    # a manifest naming a path outside data/files is refused before anything is written
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(hostile, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member)
            if member.name == "manifest.json" and data is not None:
                manifest = orjson.loads(data.read())
                manifest["files"] = ["../../keys/evil.jpg"]
                body = orjson.dumps(manifest)
                member.size = len(body)
                out.addfile(member, io.BytesIO(body))
            else:
                out.addfile(member, data)
    elsewhere = tmp_path / "elsewhere"
    refused = run_cli_plain(
        "restore",
        str(hostile),
        "--data-dir",
        str(elsewhere / "data"),
        "--keys-dir",
        str(elsewhere / "keys"),
    )
    assert refused.returncode == 2
    assert "unexpected file name" in refused.stderr
    assert not (elsewhere / "keys" / "evil.jpg").exists()


async def test_an_import_killed_midway_resumes_without_duplicates(
    live: Live, tmp_path: Path
) -> None:
    """kill -9 while discussions are being written; the next run completes the rest
    and nothing is there twice."""
    many = [
        {
            "id": ning.ning_id("Topic", 100 + n),
            "contributorName": "lotte5",
            "title": f"Onderwerp {n}",
            "description": "<p>tekst</p>",
            "createdDate": ning.when(1 + n % 27),
            "comments": [
                {
                    "id": ning.ning_id("Comment", 5000 + n * 10 + c),
                    "contributorName": "annemiek29",
                    "description": f"<p>reactie {c}</p>",
                    "createdDate": ning.when(1 + n % 27, c + 1),
                }
                for c in range(5)
            ],
        }
        for n in range(40)
    ]
    archive = ning.write_archive(tmp_path / "export", many)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fedi_forum",
        "import",
        "ning",
        str(archive),
        *live.cli_options,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def some_written() -> bool:
        return len(await live.store.discussions()) >= 3

    await until(some_written, 60)
    proc.kill()
    await proc.wait()
    cut = await live.store.discussions(limit=100)
    written = len(cut)
    assert written < 40  # it was cut short
    assert all(d.reply_count == 5 for d, _ in cut)  # each discussion: all or nothing
    out = await _import(live, archive)
    assert f"{40 - written} were created" in out
    listed = await live.store.discussions(limit=100)
    assert len(listed) == 40
    for d, _ in listed:
        assert d.reply_count == 5
        assert d.last_seq == 5
