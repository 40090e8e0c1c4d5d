"""Bench: search (issue #16, docs/search.md), both engines in one run.

* recall: a hand-labelled set of Dutch word forms (plurals, verb forms, compounds; 26
  concepts, 80 documents) searched three ways in an in-memory FTS5 table — the words as
  written, their Snowball stems, and stems matched as prefixes (what we ship) — recall
  and precision of each;
* index cost: seconds to store the same N public replies (group commit, 1,000 at a time)
  with the search triggers and with them dropped, per engine: the per-reply cost of
  keeping the index;
* latency: `serve --no-worker` on the seeded instance (N replies of 20–60 words from a
  2,000-word Zipf vocabulary in 100 discussions); 300 `GET /search` of 1–3 words (common,
  middling and rare ones), one at a time and then 8 at a time: p50/p99 ms.

PostgreSQL shares the machine's 2 cores with the server and the client.

    .venv/bin/python bench/search.py [--notes 100000] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from _engine import ENGINES, Home, home
from _harness import free_port, save
from _seed import forum

from fedi_forum.activitypub.search_text import Terms, stem, stems_of
from fedi_forum.models import NewNote, RemoteActor, utcnow

# Concept → the forms people write (the first is the query; all are relevant).
CONCEPTS = [
    ("boom", "bomen", "boomstam", "bomenkap"),
    ("straat", "straten", "straatverlichting"),
    ("fiets", "fietsen", "fietspad", "fietser"),
    ("speeltuin", "speeltuinen", "speeltuintje"),
    ("afval", "afvalinzameling", "afvalbakken"),
    ("container", "containers", "containerpas"),
    ("parkeren", "parkeerplaats", "geparkeerd", "parkeert"),
    ("vergunning", "vergunningen", "vergunningaanvraag"),
    ("kind", "kinderen", "kinderopvang"),
    ("school", "scholen", "schoolplein"),
    ("wijk", "wijken", "wijkraad", "wijkbewoners"),
    ("bewoner", "bewoners", "bewonersavond"),
    ("gemeente", "gemeenten", "gemeentelijke"),
    ("verkeer", "verkeersdrempel", "verkeersveiligheid"),
    ("brug", "bruggen", "brugwachter"),
    ("huis", "huizen", "huisvesting"),
    ("woning", "woningen", "woningbouw"),
    ("subsidie", "subsidies", "subsidieregeling"),
    ("lantaarn", "lantaarns", "lantaarnpaal"),
    ("overlast", "geluidsoverlast", "overlastmelding"),
    ("bankje", "bankjes", "zitbankje"),
    ("plein", "pleinen", "marktplein"),
    ("bus", "bussen", "bushalte"),
    ("water", "wateroverlast", "waterpeil"),
    ("vergaderen", "vergadering", "vergaderde", "vergadert"),
    ("melden", "melding", "meldingen", "gemeld"),
]
FILLER = tuple(
    "wij vinden dat er iets moet gebeuren want het is al lang zo en niemand doet iets "  # noqa: SIM905
    "graag zou ik willen weten wat de plannen zijn voor volgend jaar misschien kan dat".split()
)


def recall_table() -> dict[str, dict[str, float]]:
    """Recall and precision of three ways to match, on the labelled set."""
    rng = random.Random(7)
    docs: list[tuple[int, str, int]] = []  # (id, text, concept)
    for c, forms in enumerate(CONCEPTS):
        for form in forms[1:]:
            for _ in range(2 if len(forms) < 4 else 1):
                words = [*rng.sample(FILLER, 8), form, *rng.sample(FILLER, 6)]
                docs.append((len(docs) + 1, " ".join(words), c))
    ways: dict[str, Any] = {
        "words as written": (lambda text: text, lambda w: f'"{w}"'),
        "stems": (
            lambda text: stems_of(text, "nl"),
            lambda w: " OR ".join(f'"{s}"' for s in Terms.parse(w).stems(w)),
        ),
        "stems as prefixes (shipped)": (
            lambda text: stems_of(text, "nl"),
            lambda w: Terms.parse(w).fts5(),
        ),
    }
    out = {}
    for name, (index, match) in ways.items():
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61')")
        db.executemany(
            "INSERT INTO t (rowid, body) VALUES (?, ?)", [(i, index(t)) for i, t, _ in docs]
        )
        found = relevant = hits = 0
        for c, forms in enumerate(CONCEPTS):
            got = {
                r[0] for r in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match(forms[0]),))
            }
            wanted = {i for i, _, concept in docs if concept == c}
            found += len(got & wanted)
            relevant += len(wanted)
            hits += len(got)
        out[name] = {"recall": found / relevant, "precision": found / hits if hits else 1.0}
    return out


def vocabulary(size: int = 2000) -> list[str]:
    """The concepts' forms first (so queries find something), then made-up words;
    used with Zipf weights (rank r weighs 1/r)."""
    words = [w for forms in CONCEPTS for w in forms] + list(FILLER)
    rng = random.Random(3)
    # made-up words from syllables that are no concept's beginning, so that a compound
    # head ("straat") matches its real compounds, not hundreds of invented ones
    syllables = "ka lo mi ter bas dul fen gor hik jol nup pra quo rin sef tov wul zam".split()  # noqa: SIM905
    while len(words) < size:
        words.append("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return list(dict.fromkeys(words))[:size]


def text_of(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return "<p>" + " ".join(rng.choices(words, weights, k=rng.randint(20, 60))) + "</p>"


async def seed(h: Home, notes: int, *, indexed: bool) -> float:
    """Seconds to store ``notes`` replies (the index triggers dropped unless ``indexed``)."""
    rng = random.Random(11)
    words = vocabulary()
    weights = [1 / (r + 1) for r in range(len(words))]
    async with forum(h.settings) as discussions:
        store = discussions.store
        if not indexed:

            def drop(conn: Any) -> None:
                for trigger in ("search_note_added", "search_note_changed"):
                    target = "" if h.engine == "sqlite" else " ON notes"
                    conn.execute(f"DROP TRIGGER {trigger}{target}")

            await store.db.write(drop)
        ds = [
            await discussions.create(
                slug=f"d{i}", title=f"Onderwerp {i}", body="Wat vindt u?", lang="nl"
            )
            for i in range(100)
        ]
        author = RemoteActor(
            id="https://m.example/users/u",
            host="m.example",
            type="Person",
            preferred_username="u",
            name="Inwoner",
            url=None,
            icon_url=None,
            inbox=None,
            shared_inbox=None,
            key_id=None,
            public_key_pem=None,
            fetched_at=utcnow(),
        )
        await store.upsert_actor(author)
        texts = [text_of(rng, words, weights) for _ in range(notes)]
        t0 = time.perf_counter()
        for start in range(0, notes, 1000):
            now = utcnow()
            await asyncio.gather(
                *(
                    store.append_note(
                        ds[i % 100].id,
                        NewNote(
                            ap_id=f"{author.id}/statuses/{i}",
                            activity_id=None,
                            author_id=author.id,
                            in_reply_to=None,
                            content=texts[i],
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
                    for i in range(start, min(start + 1000, notes))
                )
            )
        return time.perf_counter() - t0


def queries(n: int = 300) -> list[str]:
    rng = random.Random(5)
    words = vocabulary()
    common, middle, rare = words[:60], words[60:600], words[600:]
    out = []
    for i in range(n):
        pool = (common, middle, rare)[i % 3]
        out.append(" ".join(rng.sample(pool, 1 + (i // 3) % 3)))
    return out


async def latencies(base: str, qs: list[str], concurrency: int) -> list[float]:
    taken: list[float] = []
    queue = list(qs)
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            while queue:
                q = queue.pop()
                t0 = time.perf_counter()
                async with session.get(f"{base}/search", params={"q": q}) as r:
                    await r.read()
                    assert r.status == 200, (q, r.status)
                taken.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return taken


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    results: dict[str, Any] = {"notes": args.notes, "recall": recall_table()}
    for name, r in results["recall"].items():
        print(f"recall {name:30} {r['recall']:.0%} (precision {r['precision']:.0%})")
    words = vocabulary()
    t0 = time.perf_counter()
    for i in range(2000):
        stems_of(f"<p>{' '.join(words[(i * 7 + k) % len(words)] for k in range(40))}</p>", "nl")
    print(
        f"stems_of, a 40-word reply (warm cache): {(time.perf_counter() - t0) / 2000 * 1e6:.0f} µs"
    )
    stem.cache_clear()
    qs = queries()
    for engine in args.engines.split(","):
        row: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as tmp:
            with home(engine, Path(tmp) / "plain", "http://127.0.0.1:1") as plain:
                row["seed_s_without_index"] = asyncio.run(seed(plain, args.notes, indexed=False))
            port = free_port()
            with home(engine, Path(tmp) / "indexed", f"http://127.0.0.1:{port}") as h:
                row["seed_s_with_index"] = asyncio.run(seed(h, args.notes, indexed=True))
                with h.serve(port, 1, "--no-worker") as (base, _pid):
                    asyncio.run(latencies(base, qs[:30], 1))  # warm-up
                    one = asyncio.run(latencies(base, qs, 1))
                    eight = asyncio.run(latencies(base, qs, 8))
        per_note = (row["seed_s_with_index"] - row["seed_s_without_index"]) / args.notes
        row.update(
            index_us_per_reply=per_note * 1e6,
            c1_p50_ms=statistics.median(one),
            c1_p99_ms=pct(one, 0.99),
            c8_p50_ms=statistics.median(eight),
            c8_p99_ms=pct(eight, 0.99),
        )
        results[engine] = row
        print(
            f"{engine:10} {args.notes} replies stored in {row['seed_s_without_index']:.1f} s "
            f"without the index, {row['seed_s_with_index']:.1f} s with it "
            f"({row['index_us_per_reply']:.0f} µs per reply); search c1 p50 "
            f"{row['c1_p50_ms']:.1f} / p99 {row['c1_p99_ms']:.1f} ms, c8 p50 "
            f"{row['c8_p50_ms']:.1f} / p99 {row['c8_p99_ms']:.1f} ms"
        )
    print(f"saved {save('search', results)}")


if __name__ == "__main__":
    main()
