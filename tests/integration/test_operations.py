"""Operations (issue #18, first part): liveness and readiness, a database from a newer
fedi-forum, a public listener without a base URL, --version. Real HTTP and processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from fedi_forum import __version__
from fedi_forum.store.keyfiles import INSTANCE_KEY, KeyFiles
from fedi_forum.store.migrations import latest_version
from tests.conftest import Live
from tests.support.db import run_sql
from tests.support.engines import secret_file
from tests.support.process import CREATE_PARK, clean_env, run_cli


async def test_healthz_and_readyz(live: Live) -> None:
    r = await live.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert r.headers["cache-control"] == "no-store"
    r = await live.client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})
    # a database migrated by a newer fedi-forum: not ready, and says why
    run_sql(live.settings, "INSERT INTO schema_migrations VALUES (?, 'x')", (latest_version() + 1,))
    r = await live.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["problems"] == [
        f"schema at {latest_version() + 1}, this code needs {latest_version()}"
    ]
    run_sql(live.settings, "DELETE FROM schema_migrations WHERE version > ?", (latest_version(),))
    keyring = live.discussions.keyring
    if isinstance(keyring, KeyFiles):  # sealed keys are unsealed once, at the start
        key = keyring.path_for(INSTANCE_KEY)
        key.rename(key.with_suffix(".moved"))
        r = await live.client.get("/readyz")
        assert (r.status_code, r.json()["problems"]) == (503, ["instance key unreadable"])
        key.with_suffix(".moved").rename(key)
    # the delivery worker of this process stopped
    assert live.services.delivery is not None
    await live.services.delivery.stop()
    r = await live.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["problems"] == ["delivery worker stopped"]
    assert (await live.client.get("/healthz")).status_code == 200  # still alive


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "init", "--base-url", "https://forum.example.nl").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'x')", (latest_version() + 1,))
    for args in (("discussion", "list"), ("serve", "--port", "1")):
        result = run_cli(tmp_path, *args)
        assert result.returncode == 2, args
        assert f"schema version {latest_version() + 1}" in result.stderr
        assert f"versions up to {latest_version()}" in result.stderr


def test_a_public_listener_needs_an_explicit_base_url(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert "FEDI_FORUM_BASE_URL" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing recorded for good


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fedi_forum", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == f"fedi-forum {__version__}"


def test_json_logs_carry_the_request_id_of_the_response(tmp_path: Path) -> None:
    """FEDI_FORUM_LOG_FORMAT=json: every line is an object; the access line of a request
    carries the id the response returned. A client's own X-Request-Id is ignored unless
    the proxy is trusted (--proxy-headers)."""
    import json

    import httpx

    from tests.support.process import serve

    for trusted in (False, True):
        extra = ["--proxy-headers"] if trusted else []
        with serve(
            *extra,
            "--data-dir",
            str(tmp_path / f"d{trusted}"),
            "--keys-dir",
            str(tmp_path / f"k{trusted}"),
            env=clean_env(FEDI_FORUM_LOG_FORMAT="json"),
        ) as served:
            r = httpx.get(f"{served.base}/about", headers={"X-Request-Id": "from-the-proxy.1"})
        rid = r.headers["x-request-id"]
        assert (rid == "from-the-proxy.1") is trusted, rid
        out = served.output
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert lines, out
        assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
        access = [line for line in lines if line.get("path") == "/about"]
        assert len(access) == 1, lines
        assert access[0]["request_id"] == rid
        assert access[0]["status"] == 200
        assert "client" not in access[0]  # no visitor address by default
        assert not [
            line
            for line in out.splitlines()
            if line and not line.startswith("{") and "fedi-forum serving" not in line
        ], out


def test_a_demo_directory_made_for_another_port_is_not_served_under_a_wrong_url(
    tmp_path: Path,
) -> None:
    """`make run PORT=8732` after `make run`: said plainly, with how to start over."""
    assert run_cli(tmp_path, "init", "--base-url", "http://127.0.0.1:8000").returncode == 0
    result = run_cli(tmp_path, "serve", "--port", "8732")
    assert result.returncode == 2
    assert "created for http://127.0.0.1:8000" in result.stderr
    assert "make reset" in result.stderr


def test_trusted_proxies_decide_whose_forwarded_address_counts(tmp_path: Path) -> None:
    """With --proxy-headers, X-Forwarded-For is believed only from FEDI_FORUM_TRUSTED_PROXIES
    (CIDRs): then the visitor's address is the client (what per-client limits count)."""
    import json

    import httpx

    from tests.support.process import serve

    for trusted, expected in (("127.0.0.0/8", "198.51.100.7"), ("10.0.0.0/8", "127.0.0.1")):
        env = clean_env(FEDI_FORUM_LOG_FORMAT="json", FEDI_FORUM_TRUSTED_PROXIES=trusted)
        home = tmp_path / trusted[:2]
        with serve(
            "--proxy-headers",
            "--log-client-addresses",
            "--data-dir",
            str(home / "data"),
            "--keys-dir",
            str(home / "keys"),
            env=env,
        ) as served:
            httpx.get(f"{served.base}/about", headers={"X-Forwarded-For": "198.51.100.7"})
        lines = [json.loads(line) for line in served.output.splitlines() if line.startswith("{")]
        (access,) = [line for line in lines if line.get("path") == "/about"]
        assert access["client"].rsplit(":", 1)[0] == expected, (trusted, access)


def test_check_counts_sealed_keys_as_keys(tmp_path: Path) -> None:
    """With a secret file the keys are sealed in the database, not files: check finds
    them there, and reports one that is in neither place."""
    sealed = {"FEDI_FORUM_SECRET_FILE": str(secret_file(tmp_path))}
    created = run_cli(tmp_path, *CREATE_PARK, "--base-url", "https://forum.example.nl", env=sealed)
    assert created.returncode == 0, created.stderr
    assert not (tmp_path / "keys" / "group-park.pem").exists()
    healthy = run_cli(tmp_path, "check", env=sealed)
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "ok"), healthy.stdout
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        db.execute("DELETE FROM sealed_keys WHERE name = 'group-park.pem'")
    missing = run_cli(tmp_path, "check", env=sealed)
    assert missing.returncode == 1
    assert "key file group-park.pem missing" in missing.stdout


def test_check_finds_missing_keys_broken_references_and_stale_deliveries(
    tmp_path: Path,
) -> None:
    created = run_cli(
        tmp_path,
        *CREATE_PARK,
        "--base-url",
        "https://forum.example.nl",
    )
    assert created.returncode == 0, created.stderr
    category = run_cli(tmp_path, "category", "create", "--slug", "groen", "--name", "Groen")
    assert category.returncode == 0, category.stderr
    healthy = run_cli(tmp_path, "check")
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "ok"), healthy.stderr
    (tmp_path / "keys" / "group-park.pem").unlink()
    (tmp_path / "keys" / "category-groen.pem").unlink()
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        db.execute(
            "INSERT INTO deliveries (activity_id, inbox, host, payload, signer, next_attempt_at,"
            " created_at) VALUES ('a', 'https://x.example/inbox', 'x.example', '{}', 's',"
            " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        )
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute(
            "INSERT INTO follows (discussion_id, actor_id, follow_activity_id, inbox,"
            " created_at) VALUES (999, 'https://x.example/a', 'f', 'https://x.example/i', 'now')"
        )
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1
    assert "problem: key file group-park.pem missing" in result.stdout
    assert "problem: key file category-groen.pem missing" in result.stdout
    assert "problem: 1 deliveries pending for more than 3 days" in result.stdout
    assert "problem: follows row" in result.stdout
    assert result.stdout.strip().endswith("4 problem(s)")


async def test_sigterm_gives_back_leases_and_exits_in_bounded_time(tmp_path: Path) -> None:
    """A delivery stuck on a follower that never answers is in flight when SIGTERM comes:
    the process stops within its grace, and the delivery's lease is given back (another
    worker, or the next start, sends it at once instead of after the lease runs out)."""
    import asyncio
    import signal
    import time

    import httpx

    from tests.support.live import bind_loopback
    from tests.support.remote import remote_server

    async with remote_server() as remote:
        remote.inbox_delay = 8.0  # the follower's server hangs longer than our grace
        sock = bind_loopback()
        port = sock.getsockname()[1]
        sock.close()
        base = f"http://127.0.0.1:{port}"
        home = tmp_path / "home"
        args = ["--data-dir", str(home / "data"), "--keys-dir", str(home / "keys")]
        created = run_cli(
            home,
            *CREATE_PARK,
            "--base-url",
            base,
        )
        assert created.returncode == 0, created.stderr
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_FORUM_")}
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; awaited in a thread
            [
                sys.executable,
                "-m",
                "fedi_forum",
                "serve",
                "--port",
                str(port),
                "--allow-loopback",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean,
        )
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                for _ in range(200):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
                alice = remote.actor("alice")
                follow = alice.activity("Follow", f"{base}/d/park")
                r = await alice.post(client, f"{base}/d/park/inbox", follow)
                assert r.status_code == 202
            for _ in range(100):  # the Accept is on its way to the hanging inbox
                if remote.received:
                    break
                await asyncio.sleep(0.05)
            assert remote.received
            db = sqlite3.connect(home / "data" / "fedi-forum.sqlite3")
            (leased,) = db.execute(
                "SELECT count(*) FROM deliveries WHERE locked_until IS NOT NULL"
            ).fetchone()
            assert leased == 1
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 20)
            stopped_in = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
            out = proc.communicate()[0]
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete (-15)
        assert proc.returncode in (0, -signal.SIGTERM), out
        assert "Application shutdown complete" in out
        assert stopped_in < 7.5, f"stopped in {stopped_in:.1f} s"
        row = db.execute("SELECT state, locked_until, attempts FROM deliveries").fetchone()
        db.close()
        assert row == ("pending", None, 0)  # given back, not counted as a failed attempt
        assert "Traceback" not in out, out


def test_a_keys_directory_checked_out_0755_is_made_0700(tmp_path: Path) -> None:
    """git checks out keys/ (it holds a README) 0755; the first key makes it 0700."""
    import stat

    (tmp_path / "keys").mkdir(mode=0o755)
    (tmp_path / "keys").chmod(0o755)
    (tmp_path / "keys" / "README.md").write_text("keys")
    result = run_cli(tmp_path, "init", "--base-url", "https://forum.example.nl")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert "can read it" not in result.stderr  # fixed, not merely warned about


def test_migrate_check_says_what_would_run_and_migrate_applies_it(tmp_path: Path) -> None:
    """An upgrade as an operator does it: `migrate --check` (exit 1: something to apply,
    naming it), then `migrate`, then `migrate --check` is up to date."""
    from fedi_forum.store.db import apply_migrations

    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        apply_migrations(db, upto=latest_version() - 1)  # as the previous release left it
    check = run_cli(tmp_path, "migrate", "--check")
    assert check.returncode == 1
    assert f"would apply: {latest_version()}" in check.stdout
    assert "fedi-forum backup" in check.stdout
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == (
            latest_version() - 1
        )  # --check changed nothing
    applied = run_cli(tmp_path, "migrate")
    assert applied.returncode == 0, applied.stderr
    assert run_cli(tmp_path, "migrate", "--check").stdout.strip() == (
        f"schema version {latest_version()}: up to date"
    )


def test_check_finds_a_search_index_out_of_step_and_reindex_mends_it(tmp_path: Path) -> None:
    created = run_cli(tmp_path, *CREATE_PARK, "--base-url", "https://forum.example.nl")
    assert created.returncode == 0, created.stderr
    assert run_cli(tmp_path, "check").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3") as db:
        db.execute("DELETE FROM search_index")  # as a restore from a partial copy might
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1
    assert "the search index holds 0 messages where 1 are public" in result.stdout
    rebuilt = run_cli(tmp_path, "search", "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == "search index rebuilt: 1 messages"
    healthy = run_cli(tmp_path, "check")
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "ok"), healthy.stdout


async def test_a_serving_app_keeps_its_startup_objects_out_of_full_collections(
    tmp_path: Path,
) -> None:
    """A full collection pauses the event loop for as long as it scans (34 ms for a
    started app, measured: the comment in app.py): what exists at startup is frozen while the app
    serves, young collections come 10x rarer, and both are given back when it stops
    (tests build many apps in one process)."""
    import gc

    from fedi_forum.app import YOUNG_THRESHOLD, create_app
    from fedi_forum.config import Settings

    settings = Settings(
        base_url="http://127.0.0.1:9", data_dir=tmp_path / "d", keys_dir=tmp_path / "k"
    )
    app = create_app(settings)
    before = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > before + 10_000
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:])
        assert thresholds[0] < YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
