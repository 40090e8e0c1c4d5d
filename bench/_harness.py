"""Shared bench plumbing: free ports, the real server as a process, wrk or a fallback
load generator, medians. Loopback only; every run bounded in time and count; it stops
only the processes it started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str | None:
    """wrk from Debian when missing (as root); None means use the Python fallback."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return shutil.which("wrk")


def bench_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process a bench starts: ours, ``env`` over it (a value of ""
    removes the variable). Load from one loopback address would trip the per-client
    inbox rate limit, and the in-flight cap is G6's subject: both are off unless a bench
    turns them back on."""
    merged = {
        **os.environ,
        "FEDI_FORUM_INBOX_RATE": "0",
        "FEDI_FORUM_MAX_IN_FLIGHT": "100000",
        **(env or {}),
    }
    return {k: v for k, v in merged.items() if v != ""}


@contextlib.contextmanager
def process(
    cmd: list[str], port: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Run ``cmd`` until it listens on ``port``; stop it (and only it) afterwards.
    ``env`` overrides the environment (``bench_env``)."""
    env = bench_env(env)
    # stderr to a file, never an unread pipe: a server that logs a lot would block on a
    # full pipe (and look hung)
    log = tempfile.NamedTemporaryFile(prefix="ff-bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError(Path(log.name).read_text()[-4000:] or "died")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[:4]} did not start")
            time.sleep(0.1)
        time.sleep(1.0)  # let every worker process come up
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        errors = Path(log.name).read_text()
        if "Traceback" in errors:  # a 500 in the server is a finding, not noise
            print(f"server errors ({log.name}):\n{errors[-3000:]}", file=sys.stderr)
        else:
            Path(log.name).unlink()


def server(
    data_dir: Path,
    keys_dir: Path,
    port: int,
    workers: int = 1,
    *extra: str,
    env: dict[str, str] | None = None,
    quiet: bool = True,
) -> Any:
    """The real `fedi-forum serve` on a data directory; ``quiet``: without the access
    log and below warnings (false: as an operator runs it, G1-default)."""
    return process(
        [
            sys.executable,
            "-m",
            "fedi_forum",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--data-dir",
            str(data_dir),
            "--keys-dir",
            str(keys_dir),
            *(("--log-level", "warning", "--no-access-log") if quiet else ()),
            *extra,
        ],
        port,
        env=env,
    )


def ceiling_server(app: str, port: int, workers: int) -> list[str]:
    """The command serving a ceiling app (``module:attribute``, run in the module's
    directory) as `fedi-forum serve` serves (bench/_ceiling.py)."""
    ceiling = str(Path(__file__).parent / "_ceiling.py")
    return [sys.executable, ceiling, app, str(port), str(workers)]


def proc_cpu(stat_path: str) -> tuple[str, float] | None:
    """(command name, CPU seconds user + system) from a ``/proc/…/stat`` file (a process
    or a thread, Linux); None when it ended meanwhile."""
    try:
        stat = Path(stat_path).read_text()
    except OSError:
        return None
    head, _, rest = stat.rpartition(")")
    fields = rest.split()
    return head.partition("(")[2], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    return parse_wrk(out)


PERCENTILES = (50, 75, 90, 99)  # what wrk --latency prints: the charts' latency curves
_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict[str, Any]:
    """Requests/s, p99 and non-2xx of a wrk run; ``latency_ms``: its latency distribution
    (PERCENTILES) for the charts."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {}
    for p in PERCENTILES:
        found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found:
            latency[str(p)] = float(found.group(1)) * _SCALE[found.group(2)]
    return {
        "rps": rps,
        "p99_ms": latency.get("99", float("nan")),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "latency_ms": latency,
    }


async def _python_load(urls: list[str], connections: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    bad = 0
    stop = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal bad
        i = offset
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            async with session.get(urls[i % len(urls)], headers={"Accept": "text/html"}) as r:
                await r.read()
                bad += r.status >= 400
            latencies.append((time.perf_counter() - t0) * 1000)
            i += 7

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, n) for n in range(connections)))
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "non_2xx": float(bad),
        "latency_ms": {str(p): latencies[int(len(latencies) * p / 100)] for p in PERCENTILES},
    }


def python_load(urls: list[str], connections: int, seconds: float) -> dict[str, Any]:
    return asyncio.run(_python_load(urls, connections, seconds))


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    rps = [r["rps"] for r in runs]
    p99 = [r["p99_ms"] for r in runs]
    return {
        "rps_median": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p99_ms_median": statistics.median(p99),
        "runs": runs,
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
