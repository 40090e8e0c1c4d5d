"""Bench: the HTML page of a 10,000-reply discussion, random keyset pages.

Seeds a real SQLite data directory through the store API, starts the real
`fedi-forum serve` (1 and 2 workers), loads it with wrk (installed from Debian when
missing; a Python load generator otherwise) and prints pages/s and p99, median of 3.

    .venv/bin/python bench/html_page.py [--replies 10000] [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import (
    ensure_wrk,
    free_port,
    python_load,
    run_wrk,
    save,
    server,
    summary,
)
from _seed import forum

from fedi_forum.config import Settings
from fedi_forum.models import NewNote, RemoteActor, utcnow

PAGE = 50
CONTENT = (
    "<p>Ik denk dat de nieuwe fietsroute langs het kanaal veiliger is, maar de "
    'verlichting moet beter. <a href="https://example.nl">Zie ook</a></p>'
)


async def seed(settings: Settings, replies: int) -> None:
    async with forum(settings) as discussions:
        store = discussions.store
        d = await discussions.create(
            slug="bench", title="Fietsroute langs het kanaal", body="Wat vindt u?", lang="nl"
        )
        actors = [
            RemoteActor(
                id=f"https://m{i}.example/users/u{i}",
                host=f"m{i}.example",
                type="Person",
                preferred_username=f"u{i}",
                name=f"Inwoner {i}",
                url=f"https://m{i}.example/@u{i}",
                icon_url=f"https://m{i}.example/a/{i}.png",
                inbox=None,
                shared_inbox=None,
                key_id=None,
                public_key_pem=None,
                fetched_at=utcnow(),
            )
            for i in range(200)
        ]
        await asyncio.gather(*(store.upsert_actor(a) for a in actors))
        for start in range(0, replies, 1000):  # group commit does the batching
            now = utcnow()
            await asyncio.gather(
                *(
                    store.append_note(
                        d.id,
                        NewNote(
                            ap_id=f"{actors[i % 200].id}/statuses/{i}",
                            activity_id=None,
                            author_id=actors[i % 200].id,
                            in_reply_to=None,
                            content=CONTENT,
                            summary=None,
                            sensitive=False,
                            lang="nl",
                            url=None,
                            visibility="public",
                            published=now,
                            updated=None,
                            raw=None,
                            accepted_at=now,
                        ),
                    )
                    for i in range(start, min(start + 1000, replies))
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    wrk = ensure_wrk()
    last_after = ((args.replies - 1) // PAGE) * PAGE
    with tempfile.TemporaryDirectory(prefix="ff-bench-") as tmp:
        port = free_port()
        settings = Settings(
            base_url=f"http://127.0.0.1:{port}",
            data_dir=Path(tmp) / "data",
            keys_dir=Path(tmp) / "keys",
        )
        asyncio.run(seed(settings, args.replies))
        script = Path(tmp) / "pages.lua"
        script.write_text(
            "math.randomseed(os.time())\n"
            "request = function()\n"
            f"  local after = math.random(0, {last_after // PAGE}) * {PAGE}\n"
            '  return wrk.format("GET", "/d/bench?after=" .. after, {["Accept"]="text/html"})\n'
            "end\n"
        )
        fixed = {name: Path(tmp) / f"{name}.lua" for name in ("first", "last")}
        for name, after in (("first", 0), ("last", last_after)):
            fixed[name].write_text(
                f'request = function() return wrk.format("GET", "/d/bench?after={after}", '
                '{["Accept"]="text/html"}) end\n'
            )
        results: dict[str, object] = {
            "replies": args.replies,
            "connections": args.connections,
            "tool": "wrk" if wrk else "python",
        }
        for workers in (1, 2):
            with server(settings.data_dir, settings.keys_dir, port, workers) as (base, _):
                url = f"{base}/d/bench"

                def load(lua: Path, after: int | None = None, url: str = url) -> dict[str, float]:
                    if wrk:
                        return run_wrk(wrk, url, lua, args.connections, args.seconds)
                    afters = range(0, last_after + 1, PAGE) if after is None else [after]
                    return python_load(
                        [f"{url}?after={a}" for a in afters], args.connections, args.seconds
                    )

                # steady state: every page rendered once in each worker first (a cold
                # page costs ~10 ms of Jinja on the loop; 100-200 of them would make up
                # the p99 of a short run)
                if wrk:
                    run_wrk(wrk, url, script, args.connections, 2)
                random_runs = [load(script) for _ in range(args.runs)]
                first = [load(fixed["first"], 0) for _ in range(args.runs)]
                last = [load(fixed["last"], last_after) for _ in range(args.runs)]
            results[f"{workers}w"] = {
                "random": summary(random_runs),
                "first": summary(first),
                "last": summary(last),
            }
    path = save("html_page", results)
    print(
        f"HTML page of a {args.replies}-reply discussion, c{args.connections}, "
        f"{args.seconds}s x {args.runs} ({results['tool']}); median [min-max]"
    )
    print(f"{'workers':>8} {'page':>7} {'pages/s':>10} {'min-max':>17} {'p99 ms':>8}")
    for workers in (1, 2):
        block = results[f"{workers}w"]
        assert isinstance(block, dict)
        for page in ("random", "first", "last"):
            s = block[page]
            print(
                f"{workers:>8} {page:>7} {s['rps_median']:>10.0f} "
                f"{s['rps_min']:>8.0f}-{s['rps_max']:<8.0f} {s['p99_ms_median']:>8.1f}"
            )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
