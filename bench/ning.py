"""Bench: `fedi-forum import ning` of a large export (issue #14): time and peak memory.

Writes a Ning export of ``--messages`` messages (topics of ``--per-topic`` messages: the
opening post and its comments; newest first, CRLF, no commas between objects, the
HTML of real posts, an image per 10th comment of which half are in the folder), then
runs the real command on an empty instance of each engine, as an operator would, and
again on the same export (which must add nothing). Peak RSS is the child's maximum
resident set (``wait4``): it must not grow with the export (the files are read as
streams, one topic at a time).

    .venv/bin/python bench/ning.py [--messages 50000] [--per-topic 20] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _engine import ENGINES, home
from _harness import bench_env, save

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)
BODY = (
    "<p>Bij ons in de gemeente zien we vooral positieve reacties. Wie heeft hier "
    'ervaring mee?</p>\r\n<p style="margin:0">We hebben een pilot gedaan met een '
    "<b>facilitator-rol</b>; dat werkte verrassend goed.</p>"
)


def write_export(directory: Path, messages: int, per_topic: int) -> tuple[int, int]:
    """The export; returns (topics, members)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "discussions").mkdir(exist_ok=True)
    topics = max(1, messages // per_topic)
    members = max(10, messages // 25)
    with (directory / "ning-members-local.json").open("wb") as out:
        out.write(b"( [\r\n")
        for m in range(members):
            out.write(
                orjson.dumps(
                    {
                        "contributorName": f"lid{m}",
                        "fullName": f"Voornaam{m} van Achternaam",
                        "email": f"lid{m}@gemeente.example",
                        "level": "member",
                        "state": "active",
                        "location": "Utrecht",
                    }
                )
                + b"\r\n"
            )
        out.write(b"] )")
    n = 0
    with (directory / "ning-discussions-local.json").open("wb") as out:
        out.write(b"( [\r\n")
        for t in reversed(range(topics)):
            comments = []
            for c in reversed(range(per_topic - 1)):
                n += 1
                body = BODY
                if c % 10 == 0:
                    name = f"discussions/{t}-{c}.jpg"
                    if c % 20 == 0:
                        (directory / name).write_bytes(JPEG)
                    body += f'<p><a href="{name}"><img src="{name}?width=737"></a></p>'
                comments.append(
                    {
                        "id": f"1:Comment:{t * per_topic + c}",
                        "contributorName": f"lid{(t + c) % members}",
                        "description": body,
                        "createdDate": f"2010-01-01T{c // 60 % 24:02d}:{c % 60:02d}:00.000Z",
                    }
                )
            out.write(
                orjson.dumps(
                    {
                        "id": f"1:Topic:{t}",
                        "contributorName": f"lid{t % members}",
                        "title": f"Onderwerp {t}: overheid &amp; participatie",
                        "description": BODY,
                        "createdDate": "2009-12-31T09:00:00.000Z",
                        "category": "Digitalisering",
                        "comments": comments,
                    },
                    option=orjson.OPT_INDENT_2,
                ).replace(b"\n", b"\r\n")
            )
        out.write(b"\r\n] )")
    return topics, members


def run_import(h: Any, export: Path) -> dict[str, Any]:
    """The real command; wall time and the child's peak RSS."""
    s = h.settings
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "fedi_forum", "import", "ning", str(export)),
            *("--base-url", s.base_url, "--data-dir", str(s.data_dir)),
            *("--keys-dir", str(s.keys_dir)),
        ],
        env=bench_env(h.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed:\n{output}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "output": output}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--per-topic", type=int, default=20)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    results: dict[str, Any] = {"messages": args.messages, "per_topic": args.per_topic}
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export"
        topics, members = write_export(export, args.messages, args.per_topic)
        size = sum(f.stat().st_size for f in export.glob("*.json")) / 2**20
        print(
            f"export: {topics} discussions, {args.messages} messages, {members} members, "
            f"{size:.0f} MiB of JSON"
        )
        results["export_mib"] = size
        for engine in args.engines.split(","):
            with home(engine, Path(tmp) / engine, "https://forum.example") as h:
                first = run_import(h, export)
                again = run_import(h, export)
                imported = h.count("notes")
                if imported != args.messages:
                    raise SystemExit(f"{engine}: {imported} notes, not {args.messages}")
                if "0 were added" not in again["output"]:
                    raise SystemExit(f"{engine}: the second run added something")
                results[engine] = {
                    "seconds": first["seconds"],
                    "messages_per_s": args.messages / first["seconds"],
                    "peak_rss_mb": first["peak_rss_mb"],
                    "again_seconds": again["seconds"],
                    "again_peak_rss_mb": again["peak_rss_mb"],
                }
                print(
                    f"{engine:10} import {first['seconds']:6.1f} s "
                    f"({args.messages / first['seconds']:,.0f} messages/s), "
                    f"peak RSS {first['peak_rss_mb']:.0f} MB; "
                    f"again (adds nothing) {again['seconds']:.1f} s, "
                    f"peak RSS {again['peak_rss_mb']:.0f} MB"
                )
    print(f"saved {save('ning', results)}")


if __name__ == "__main__":
    main()
