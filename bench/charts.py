"""The charts of `make bench` (issue #17): each goal's figure against its target and the
same run's ceiling, and the latency distributions of the inbox (G1) and of pages beside
it (G3-mixed). PNGs in bench/results/: time-stamped, and ``goals.png`` and
``latency.png`` for the newest (linked from bench/README.md).

matplotlib is a bench-only dependency (the ``bench`` extra; ``make bench`` installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

MET, MISSED, CEILING = "#2e7d32", "#c62828", "#555555"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def goal_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """One bar per measured quantity: green when it meets its target (the dashed line),
    red when not; the dotted line is the ceiling measured in the same run."""
    plt = _pyplot()
    bars = [(row, p) for row in rows for p in row["plots"]]
    fig, axes = plt.subplots(len(bars), 1, figsize=(8, 0.85 * len(bars) + 1), squeeze=False)
    for ax, (row, p) in zip(axes[:, 0], bars, strict=True):
        value, target, ceiling = p["value"], p["target"], p["ceiling"]
        met = value >= target if p["higher"] else value <= target
        ax.barh([0], [value], color=MET if met else MISSED, height=0.6)
        ax.axvline(target, color="black", linestyle="--", linewidth=1.2)
        if ceiling is not None:
            ax.axvline(ceiling, color=CEILING, linestyle=":", linewidth=1.5)
        shown = [v for v in (value, target, ceiling) if v is not None and v == v]  # NaN-safe
        low, high = min([0.0, *shown]), max([0.0, *shown])
        ax.set_xlim(low * 1.15, high * 1.15 or 1)  # a negative figure (G1-key) shows too
        ax.set_yticks([])
        ax.set_title(
            f"{row['goal']}: {p['unit']} = {_number(value)} (target {_number(target)})",
            loc="left",
            fontsize=8,
            color=MET if met else MISSED,
        )
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(
        "fedi-forum goals: bar = figure (median), dashed = target, dotted = same-run ceiling",
        fontsize=9,
    )
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.04, right=0.98, top=1 - 0.9 / height, bottom=0.4 / height, hspace=1.1
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def latency_chart(inbox: dict[str, Any] | None, reads: dict[str, Any] | None, path: Path) -> None:
    """Latency by percentile, one line per run: G1 at c64 and c8 (targets 50 / 10 ms),
    G3-mixed's pages and the inbox beside them (target 100 ms)."""
    plt = _pyplot()
    fig, (g1, g3) = plt.subplots(1, 2, figsize=(10, 4))
    if inbox is not None:
        for key, label, colour, target in (
            ("full", "c64", "#1565c0", 50),
            ("full_c8", "c8", "#6a1b9a", 10),
        ):
            for run in inbox[key]["runs"]:
                _curve(g1, run.get("latency_ms", {}), colour, label)
            g1.axhline(target, color=colour, linestyle="--", linewidth=1)
        g1.set_title("G1 inbox (targets: p99 ≤ 50 ms c64, ≤ 10 ms c8)", fontsize=9)
    if reads is not None:
        for run in reads.get("g3mixed_latency_ms", []):
            _curve(g3, run["read"], "#2e7d32", "pages")
            _curve(g3, run["inbox"], "#ef6c00", "inbox")
        g3.axhline(100, color="black", linestyle="--", linewidth=1)
        g3.set_title("G3-mixed: pages beside the inbox (target p99 ≤ 100 ms)", fontsize=9)
    for ax in (g1, g3):
        ax.set_xlabel("percentile")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        if unique:
            ax.legend(unique.values(), unique.keys(), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve(ax: Any, latency: dict[str, float], colour: str, label: str | None) -> None:
    if latency:
        points = sorted((int(p), ms) for p, ms in latency.items())
        ax.plot([p for p, _ in points], [ms for _, ms in points], "o-", color=colour, label=label)


def write(
    rows: list[dict[str, Any]],
    inbox: dict[str, Any] | None,
    reads: dict[str, Any] | None,
    results: Path,
    stamp: str,
) -> list[Path]:
    """Both charts, time-stamped and as the newest (``goals.png``, ``latency.png``)."""
    written = []
    for name, draw in (
        ("goals", lambda p: goal_chart(rows, p)),
        ("latency", lambda p: latency_chart(inbox, reads, p)),
    ):
        path = results / f"{name}-{stamp}.png"
        draw(path)
        shutil.copyfile(path, results / f"{name}.png")
        written.append(path)
    return written
