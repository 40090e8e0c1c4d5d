"""/metrics over real HTTP, read by prometheus-client's own text parser; access control;
and the figures summed across uvicorn workers (multiprocess mode)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from fedi_forum.app import create_app
from fedi_forum.config import Settings
from fedi_forum.web.metrics import FLUSH_EVERY
from tests.conftest import Live
from tests.support.live import live_server
from tests.support.remote import RemoteServer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_count_requests_and_inbox_outcomes(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    assert (
        await alice.post(live.client, f"{group}/inbox", alice.activity("Like", f"{group}/m/0"))
    ).status_code == 202
    unsigned = await live.client.post(
        f"{group}/inbox",
        content=b'{"id":"https://x.example/1","type":"Like","actor":"https://x.example/a"}',
        headers={"content-type": "application/activity+json"},
    )
    assert unsigned.status_code == 401
    for _ in range(3):
        await live.client.get("/about")
    r = await live.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert samples[("fedi_forum_http_requests_total", (("family", "page"), ("status", "200")))] >= 3
    assert (
        samples[("fedi_forum_http_requests_total", (("family", "inbox"), ("status", "401")))] == 1
    )
    assert samples[("fedi_forum_inbox_activities_total", (("outcome", "accepted"),))] == 1
    assert samples[("fedi_forum_inbox_activities_total", (("outcome", "refused_401"),))] == 1
    assert ("fedi_forum_deliveries", (("state", "pending"),)) in samples
    assert ("fedi_forum_delivery_oldest_pending_seconds", ()) in samples
    assert any(name == "fedi_forum_http_request_seconds_bucket" for name, _ in samples)
    # what the lower layers report (telemetry.py): alice's key fetched once, group
    # commits with their size and time, delivery attempts by outcome
    assert samples[("fedi_forum_key_fetches_total", (("outcome", "fetched"),))] == 1
    assert samples[("fedi_forum_db_write_batch_size_count", ())] >= 1
    assert samples[("fedi_forum_db_commit_seconds_count", ())] >= 1
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    assert live.services.delivery is not None
    await live.services.delivery.drain()

    def failing(conn):  # type: ignore[no-untyped-def]
        for i in range(12):  # 12 failing servers: the 10 worst named, the rest "other"
            conn.execute(
                "INSERT INTO instances (host, failures) VALUES (?, ?)", (f"h{i}.example", i + 1)
            )

    await live.store.db.write(failing)
    samples = _samples((await live.client.get("/metrics")).text)
    assert samples[("fedi_forum_delivery_attempts_total", (("outcome", "delivered"),))] == 1
    hosts = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "fedi_forum_delivery_host_failures"
    }
    assert hosts["h11.example"] == 12
    assert "h1.example" not in hosts  # 2 failures: not among the 10 worst
    assert hosts["other"] == 1 + 2
    assert len(hosts) == 11


@contextlib.asynccontextmanager
async def _instance(tmp_path: Path, **overrides: object) -> AsyncIterator[str]:
    def make(base_url: str) -> Starlette:
        return create_app(
            Settings(
                base_url=base_url,
                data_dir=tmp_path / "d",
                keys_dir=tmp_path / "k",
                **overrides,  # type: ignore[arg-type]
            )
        )

    async with live_server(make) as (base_url, _):
        yield base_url


async def test_metrics_only_for_allowed_addresses_or_the_token(tmp_path: Path) -> None:
    async with (
        _instance(tmp_path, metrics_allow="10.0.0.0/8", metrics_token="s3cret") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        assert (await client.get("/metrics")).status_code == 404
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


def test_metrics_are_summed_across_workers(tmp_path: Path) -> None:
    from tests.support.process import serve

    with serve(
        "--workers",
        "2",
        "--no-access-log",
        "--data-dir",
        str(tmp_path / "d"),
        "--keys-dir",
        str(tmp_path / "k"),
    ) as served:
        time.sleep(1.0)  # both workers up
        for _ in range(40):
            with httpx.Client(base_url=served.base) as client:  # new connections each time
                assert client.get("/about").status_code == 200
        time.sleep(FLUSH_EVERY + 0.5)  # each worker adds its counts at most this late
        key = ("fedi_forum_http_requests_total", (("family", "page"), ("status", "200")))
        seen = set()
        for _ in range(6):
            with httpx.Client(base_url=served.base) as client:
                samples = _samples(client.get("/metrics").text)
            seen.add(samples[key])
            workers = {
                dict(labels)["pid"] for name, labels in samples if name == "fedi_forum_process_up"
            }
            assert len(workers) == 2, workers  # both workers' files are read
        assert seen == {40.0}, seen  # every scrape, whichever worker: the sum of both
