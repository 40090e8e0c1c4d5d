"""`fedi-forum serve` as a real process on a free loopback port, for tests that need the
command as users run it (flags, environment, logging, several workers)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from tests.support.live import bind_loopback


@dataclasses.dataclass
class Served:
    base: str
    proc: subprocess.Popen[str]
    output: str = ""  # everything it printed, once it has stopped


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any FEDI_FORUM_* (or metrics) setting, plus
    ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FEDI_FORUM_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    return env | extra


# The discussion most process tests start from (`fedi-forum discussion create …`).
CREATE_PARK = ("discussion", "create", "--slug", "park", "--title", "Park", "--body", "b")


def run_cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``fedi-forum *args`` on ``home``'s data and keys directories, in the test's
    environment without FEDI_FORUM_* settings (plus ``env``); its output captured."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fedi_forum",
            *args,
            "--data-dir",
            str(home / "data"),
            "--keys-dir",
            str(home / "keys"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**(env or {})),
        check=False,
    )


@contextlib.contextmanager
def serve(
    *args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
    ready: str = "/healthz",
    cwd: str | None = None,
) -> Iterator[Served]:
    """Start ``fedi-forum serve --port P *args`` and wait until ``ready`` answers 200;
    SIGTERM it afterwards (its output is then in ``Served.output``)."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    cmd = [*(command or [sys.executable, "-m", "fedi_forum"]), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=cwd,
    )
    served = Served(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(served.base + ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stdout.read() if proc.stdout else "server died")
            time.sleep(0.05)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        served.output = proc.communicate(timeout=20)[0]
