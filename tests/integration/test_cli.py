"""The `fedi-forum` command, run as a real process (as the README tells people to)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.http import AS2
from tests.support.live import bind_loopback
from tests.support.process import run_cli


def test_discussion_commands(tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Wat vindt u van de nieuwe fietsroute?\n\nLaat het weten.")
    created = run_cli(
        tmp_path,
        "discussion",
        "create",
        "--slug",
        "Fietsroute",
        "--title",
        "De fietsroute",
        "--body-file",
        str(body),
        "--lang",
        "nl",
        "--base-url",
        "https://forum.example.nl",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines() == [
        "@fietsroute@forum.example.nl",
        "https://forum.example.nl/d/fietsroute",
    ]
    assert (tmp_path / "keys" / "group-fietsroute.pem").exists()
    assert (tmp_path / "keys" / "instance.pem").exists()
    # later commands remember the base URL the data directory was created for
    listed = run_cli(tmp_path, "discussion", "list")
    assert listed.stdout.startswith("@fietsroute@forum.example.nl\topen\t0\tDe fietsroute")
    assert run_cli(tmp_path, "discussion", "lock", "fietsroute").stdout.endswith("\tlocked\n")
    assert run_cli(tmp_path, "discussion", "close", "FIETSROUTE").stdout.endswith("\tclosed\n")
    assert run_cli(tmp_path, "discussion", "unlock", "fietsroute").stdout.endswith("\topen\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["create", "--slug", "met spatie", "--title", "t", "--body", "b"],
            "name must be",
            id="bad-slug",
        ),
        pytest.param(
            ["create", "--slug", "admin", "--title", "t", "--body", "b"], "reserved", id="reserved"
        ),
        pytest.param(["lock", "bestaatniet"], "not found", id="unknown"),
        pytest.param(
            ["create", "--slug", "x", "--title", "t", "--body", "b", "--author", "niemand"],
            "no staff member",
            id="unknown-author",
        ),
    ],
)
def test_discussion_command_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(tmp_path, "discussion", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_and_base_url_mismatch(tmp_path: Path) -> None:
    assert (
        run_cli(
            tmp_path,
            "discussion",
            "create",
            "--slug",
            "a",
            "--title",
            "t",
            "--body",
            "b",
            "--base-url",
            "https://a.example",
        ).returncode
        == 0
    )
    dup = run_cli(tmp_path, "discussion", "create", "--slug", "A", "--title", "t", "--body", "b")
    assert dup.returncode == 2
    assert "already taken" in dup.stderr
    moved = run_cli(tmp_path, "init", "--base-url", "https://b.example")
    assert moved.returncode == 2
    assert "belongs to https://a.example" in moved.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`fedi-forum serve --demo` as a real process on a free loopback port."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedi_forum",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--keys-dir",
            str(tmp_path / "keys"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/.well-known/nodeinfo", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read() if proc.stdout else "server died")
            time.sleep(0.05)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)


def test_serve_demo_and_create_while_running(served: str, tmp_path: Path) -> None:
    actor = httpx.get(f"{served}/d/welkom", headers={"Accept": AS2})
    assert actor.status_code == 200
    assert actor.json()["type"] == "Group"
    assert httpx.get(f"{served}/d/welkom").status_code == 200
    created = run_cli(
        tmp_path,
        "discussion",
        "create",
        "--slug",
        "tijdens",
        "--title",
        "Tijdens",
        "--body",
        "gemaakt terwijl de server draait",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[1] == f"{served}/d/tijdens"
    live = httpx.get(f"{served}/d/tijdens", headers={"Accept": AS2})
    assert live.status_code == 200
    assert live.json()["name"] == "Tijdens"
    finger = httpx.get(
        f"{served}/.well-known/webfinger",
        params={"resource": f"acct:tijdens@{served.removeprefix('http://')}"},
    )
    assert finger.status_code == 200


def test_category_commands(served: str, tmp_path: Path) -> None:
    """`serve` made the forum-wide actor; categories are made, listed, renamed and
    discussions filed under them while it runs (docs/categories.md)."""
    host = served.removeprefix("http://")
    made = run_cli(tmp_path, "category", "create", "--slug", "Verkeer", "--name", "Verkeer")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [f"@verkeer@{host}", f"{served}/c/verkeer"]
    created = run_cli(
        tmp_path,
        "discussion",
        "create",
        "--slug",
        "drempel",
        "--title",
        "Drempel",
        "--body",
        "Waar?",
        "--category",
        "verkeer",
    )
    assert created.returncode == 0, created.stderr
    listed = run_cli(tmp_path, "category", "list").stdout.splitlines()
    assert listed == [
        f"@forum@{host}\tforum\t2\tfedi-forum",  # the demo discussion and this one
        f"@verkeer@{host}\tcategory\t1\tVerkeer",
    ]
    renamed = run_cli(tmp_path, "category", "edit", "verkeer", "--name", "Verkeer en vervoer")
    assert renamed.stdout.strip() == f"@verkeer@{host}\tedited: Verkeer en vervoer"
    moved = run_cli(tmp_path, "discussion", "edit", "drempel", "--category", "")
    assert moved.returncode == 0, moved.stderr
    assert (
        run_cli(tmp_path, "category", "list")
        .stdout.splitlines()[1]
        .endswith("\t0\tVerkeer en vervoer")
    )
    actor = httpx.get(f"{served}/c/verkeer", headers={"Accept": AS2}).json()
    assert actor["name"] == "Verkeer en vervoer"
    assert httpx.get(f"{served}/c/forum", headers={"Accept": AS2}).json()["type"] == "Group"
    for bad, message in (
        (["create", "--slug", "drempel", "--name", "X"], "already taken"),
        (["create", "--slug", "x y", "--name", "X"], "name must be"),
        (["edit", "nee", "--name", "X"], "not found"),
    ):
        result = run_cli(tmp_path, "category", *bad)
        assert result.returncode == 2, bad
        assert message in result.stderr, (bad, result.stderr)
        assert "Traceback" not in result.stderr
    wrong = run_cli(tmp_path, "discussion", "edit", "drempel", "--category", "nee")
    assert wrong.returncode == 2
    assert "not found" in wrong.stderr


def test_admin_create_user(tmp_path: Path) -> None:
    ok = run_cli(
        tmp_path,
        "admin",
        "create-user",
        "--username",
        "Beheer",
        "--role",
        "admin",
        "--password",
        "een lang wachtwoord",
    )
    assert ok.returncode == 0
    assert ok.stdout.strip() == "created admin beheer"
    short = run_cli(
        tmp_path, "admin", "create-user", "--username", "x", "--role", "admin", "--password", "kort"
    )
    assert short.returncode == 2
    assert "12 characters" in short.stderr


@pytest.mark.parametrize("opt_in", [False, True])
def test_access_log_leaves_visitor_addresses_out_unless_asked(tmp_path: Path, opt_in: bool) -> None:
    import re

    from tests.support.process import serve

    extra = ["--log-client-addresses"] if opt_in else []
    with serve(
        *extra, "--data-dir", str(tmp_path / "data"), "--keys-dir", str(tmp_path / "keys")
    ) as served:
        assert httpx.get(f"{served.base}/about").status_code == 200
    access = [line for line in served.output.splitlines() if '"GET /about HTTP/1.1" 200' in line]
    assert access, served.output
    with_address = [line for line in access if re.search(r"127\.0\.0\.1:\d+ - ", line)]
    assert bool(with_address) is opt_in, access


def test_a_database_url_that_cannot_work_is_a_clear_error(tmp_path: Path) -> None:
    """Exit 2 and one line that says what is wrong; a password in the URL is never
    printed; nothing is created in the data directory."""
    down = run_cli(
        tmp_path,
        "discussion",
        "list",
        env={"FEDI_FORUM_DATABASE_URL": "postgresql://forum:s3cret@127.0.0.1:1/forum"},
    )
    assert down.returncode == 2
    assert "cannot reach the database at postgresql://forum:***@127.0.0.1:1/forum" in down.stderr
    assert "s3cret" not in down.stdout + down.stderr
    assert "Traceback" not in down.stderr
    wrong = run_cli(tmp_path, "discussion", "list", "--database-url", "mysql://x/y")
    assert wrong.returncode == 2
    assert "database URL must start with sqlite:/// or postgresql://" in wrong.stderr
    assert not (tmp_path / "data" / "fedi-forum.sqlite3").exists()
