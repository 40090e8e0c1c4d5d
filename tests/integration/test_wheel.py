"""What a user installs, served: the wheel built from this checkout, installed into a
fresh virtualenv (the Dockerfile's `pip install .`), run as `fedi-forum serve` from an
unrelated directory, answers every page family with 200 and the security headers.

An editable install once hid that the wheel lacked the admin templates (/admin/login was
a 500 only in installed copies): this test serves the installed copy, never the checkout.
The fresh virtualenv gets the wheel only; its dependencies come from the test's own
environment through a path entry (no network, seconds instead of a minute), and the test
checks that fedi_forum itself is imported from the wheel."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_browser import ADMIN_PAGES
from tests.support.http import AS2, PASSWORD, csrf_token
from tests.support.live import bind_loopback
from tests.support.process import clean_env, serve

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "/": "text/html",
    "/about": "text/html",
    "/terms": "text/html",
    "/modlog": "text/html",
    "/modlog.rss": "application/rss+xml",
    "/d/welkom": "text/html",
    "/d/welkom/feed.rss": "application/rss+xml",
    "/d/welkom/feed.atom": "application/atom+xml",
    "/feed.rss": "application/rss+xml",
    "/search?q=welkom": "text/html",
    "/c/forum": "text/html",
    "/c/forum/feed.atom": "application/atom+xml",
    "/admin/login": "text/html",
    "/static/style.css": "text/css",
    "/nodeinfo/2.1": "application/json",
    "/healthz": "application/json",
    "/readyz": "application/json",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a clean copy: setuptools reuses a checkout's build/ folder, whose stale
    # copies could stand in for files the package configuration leaves out.
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            "node_modules",
            "__pycache__",
            ".*_cache",
            "data",
            "keys",
            "bench",
        ),
    )
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (built,) = dist.glob("fedi_forum-*.whl")
    return built


def _install_wheel(tmp_path: Path, wheel: Path, python: str = sys.executable) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    # dependencies from the test's environment, appended after the venv's own packages
    # (a plain path entry: the checkout's editable-install hook there is not run)
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_wheel_serves_every_page_family(tmp_path: Path, wheel: Path) -> None:
    venv = _install_wheel(tmp_path, wheel)
    home = tmp_path / "home"
    home.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import fedi_forum; print(fedi_forum.__file__)"],
        capture_output=True,
        text=True,
        cwd=home,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout
    with serve(
        "--demo",
        "--data-dir",
        str(home / "data"),
        "--keys-dir",
        str(home / "keys"),
        command=[str(venv / "bin" / "fedi-forum")],
        cwd=str(home),
    ) as served:
        admin = subprocess.run(
            [
                *(str(venv / "bin" / "fedi-forum"), "admin", "create-user", "--username", "beheer"),
                *("--role", "admin", "--password", PASSWORD),
                *("--data-dir", str(home / "data"), "--keys-dir", str(home / "keys")),
                *("--base-url", served.base),
            ],
            capture_output=True,
            text=True,
            cwd=home,
            env=clean_env(),
            check=False,
        )
        assert admin.returncode == 0, admin.stderr
        with httpx.Client(base_url=served.base, timeout=10) as client:
            responses = {path: client.get(path, headers={"Accept": "text/html"}) for path in PAGES}
            responses["/d/welkom (AS2)"] = client.get("/d/welkom", headers={"Accept": AS2})
            port = served.base.rsplit(":", 1)[1]
            responses["webfinger"] = client.get(
                "/.well-known/webfinger", params={"resource": f"acct:welkom@127.0.0.1:{port}"}
            )
            responses["404"] = client.get("/d/bestaatniet", headers={"Accept": "text/html"})
            # every admin page, logged in: their templates must be in the wheel too
            assert login_sync(client, "beheer").status_code == 303
            # the demo's discussion, and the forum-wide category `serve` makes
            demo = (p.replace("speeltuin", "welkom").replace("buurt", "forum") for p in ADMIN_PAGES)
            for page in demo:
                responses[page] = client.get(page, headers={"Accept": "text/html"})
        for name, r in responses.items():
            expected = 404 if name == "404" else 200
            assert r.status_code == expected, (name, r.status_code, r.text[:300])
            assert "default-src 'none'" in r.headers["content-security-policy"], name
            assert r.headers["x-content-type-options"] == "nosniff", name
            if name in PAGES:
                assert r.headers["content-type"].startswith(PAGES[name]), name
        assert "<form" in responses["/admin/login"].text
        # private files: directories 0700, the database and the keys 0600 (item 20)
        for directory in (home / "data", home / "keys"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        for path in [home / "data" / "fedi-forum.sqlite3", *(home / "keys").glob("*.pem")]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    out = served.output
    assert "Traceback" not in out, out


@dataclasses.dataclass(frozen=True)
class Dockerfile:
    env: dict[str, str]
    uid: int
    cmd: list[str]
    health: str


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match is not None, f"the Dockerfile has no {pattern!r}"
    return match.group(1)


def _dockerfile() -> Dockerfile:
    """ENV, USER's uid, CMD and the HEALTHCHECK command of the Dockerfile, as written."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                name, _, value = shlex.split(pair)[0].partition("=")
                env[name] = value
    cmd = json.loads(_found(r"^CMD (\[.*\])$", text))
    assert isinstance(cmd, list)
    return Dockerfile(
        env=env,
        uid=int(_found(r"useradd .*--uid (\d+)", text)),
        cmd=[str(part) for part in cmd],
        health=_found(r"HEALTHCHECK .*? CMD (.*)$", text),
    )


def test_the_dockerfile_cmd_on_fresh_volumes_as_its_user(wheel: Path) -> None:
    """The image's steps without a Docker engine: the wheel installed as the Dockerfile
    installs it, its ENV, its volumes made as its RUN line makes them, its CMD run as its
    non-root uid (when this test runs as root and a system Python 3.11+ is there for that
    user to run), then its HEALTHCHECK. One change, by this machine's network rule:
    the CMD's 0.0.0.0 becomes 127.0.0.1 once the refusal without a base URL is checked."""
    spec = _dockerfile()
    assert spec.cmd[:2] == ["fedi-forum", "serve"]
    system_python = shutil.which("python3.11", path="/usr/bin:/usr/local/bin")
    as_user = os.geteuid() == 0 and system_python is not None
    root = Path(tempfile.mkdtemp(prefix="ff-docker-"))
    try:
        os.chmod(root, 0o755)  # the service user must reach the venv and the volumes
        python = system_python if as_user and system_python else sys.executable
        venv = _install_wheel(root, wheel, python)
        uid = spec.uid if as_user else os.geteuid()
        volumes = root / "var-lib-fedi-forum"
        env = {k: v.replace("/var/lib/fedi-forum", str(volumes)) for k, v in spec.env.items()}
        for name in ("FEDI_FORUM_DATA_DIR", "FEDI_FORUM_KEYS_DIR"):
            Path(env[name]).mkdir(parents=True)
        os.chmod(env["FEDI_FORUM_KEYS_DIR"], 0o700)
        for path in (volumes, *volumes.iterdir()):
            os.chown(path, uid, -1)
        user = uid if as_user else None  # subprocess: None = stay who we are
        base_env = clean_env(**env, HOME=str(volumes), PATH=f"{venv / 'bin'}:/usr/bin:/bin")
        cmd = [str(venv / "bin" / spec.cmd[0]), *spec.cmd[1:]]

        refused = subprocess.run(
            cmd,
            env=base_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=volumes,
            user=user,
            group=user,
        )
        assert refused.returncode != 0
        assert "FEDI_FORUM_BASE_URL" in refused.stdout + refused.stderr

        sock = bind_loopback()
        port = sock.getsockname()[1]  # a free port
        sock.close()
        args = [a.replace("0.0.0.0", "127.0.0.1").replace("8000", str(port)) for a in cmd]
        served_env = base_env | {"FEDI_FORUM_BASE_URL": f"http://127.0.0.1:{port}"}
        proc = subprocess.Popen(
            args,
            env=served_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=volumes,
            user=user,
            group=user,
        )
        try:
            health = shlex.split(spec.health.replace("8000", str(port)))
            health[0] = str(venv / "bin" / health[0])
            deadline = time.monotonic() + 30
            while True:
                check = subprocess.run(
                    health,
                    env=served_env,
                    capture_output=True,
                    timeout=10,
                    check=False,
                    user=user,
                    group=user,
                )
                if check.returncode == 0:
                    break
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, check.stderr
                time.sleep(0.2)
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert page.status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=20)[0]
        assert "Traceback" not in output, output
        data, keys = Path(env["FEDI_FORUM_DATA_DIR"]), Path(env["FEDI_FORUM_KEYS_DIR"])
        made = [data / "fedi-forum.sqlite3", *keys.glob("*.pem")]
        assert len(made) >= 2
        for path in made:  # everything it made belongs to the service user, 0600
            assert path.stat().st_uid == uid, path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        shutil.rmtree(root, ignore_errors=True)


def login_sync(client: httpx.Client, username: str) -> httpx.Response:
    form = client.get("/admin/login", headers={"Accept": "text/html"})
    return client.post(
        "/admin/login",
        data={"csrf": csrf_token(form.text), "username": username, "password": PASSWORD},
    )
