"""What a user installs, served: the wheel built from this checkout, installed into a
fresh virtualenv (the Dockerfile's `pip install .`), run as `fedi-forum serve` from an
unrelated directory, answers every page family with 200 and the security headers.

An editable install once hid that the wheel lacked the admin templates (/admin/login was
a 500 only in installed copies): this test serves the installed copy, never the checkout.
The fresh virtualenv gets the wheel only; its dependencies come from the test's own
environment through a path entry (no network, seconds instead of a minute), and the test
checks that fedi_forum itself is imported from the wheel."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from tests.support.process import serve

ROOT = Path(__file__).resolve().parents[2]
AS2 = "application/activity+json"
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
    "/admin/login": "text/html",
    "/static/style.css": "text/css",
    "/nodeinfo/2.1": "application/json",
    "/healthz": "application/json",
    "/readyz": "application/json",
}

pytestmark = pytest.mark.slow


def _install_wheel(tmp_path: Path) -> Path:
    # Built from a clean copy: setuptools reuses a checkout's build/ folder, whose stale
    # copies could stand in for files the package configuration leaves out.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__",
        ".*_cache", "data", "keys", "bench",
    ))  # fmt: skip
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("fedi_forum-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    # dependencies from the test's environment, appended after the venv's own packages
    # (a plain path entry: the checkout's editable-install hook there is not run)
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_wheel_serves_every_page_family(tmp_path: Path) -> None:
    venv = _install_wheel(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import fedi_forum; print(fedi_forum.__file__)"],
        capture_output=True, text=True, cwd=home, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout
    with serve(
        "--demo", "--data-dir", str(home / "data"), "--keys-dir", str(home / "keys"),
        command=[str(venv / "bin" / "fedi-forum")], cwd=str(home),
    ) as served:  # fmt: skip
        with httpx.Client(base_url=served.base, timeout=10) as client:
            responses = {path: client.get(path, headers={"Accept": "text/html"}) for path in PAGES}
            responses["/d/welkom (AS2)"] = client.get("/d/welkom", headers={"Accept": AS2})
            port = served.base.rsplit(":", 1)[1]
            responses["webfinger"] = client.get(
                "/.well-known/webfinger", params={"resource": f"acct:welkom@127.0.0.1:{port}"}
            )
            responses["404"] = client.get("/d/bestaatniet", headers={"Accept": "text/html"})
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
