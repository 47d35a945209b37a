"""The digest's picture: per objective, progress and confidence over the cycle's weeks.

Rendering is CPU work: call :func:`render_async`, which runs it in a thread so the event
loop keeps answering while a chart is drawn.
"""

from __future__ import annotations

import asyncio
import io

import matplotlib

matplotlib.use("Agg")  # no display needed, and no GUI toolkit imported

from matplotlib.figure import Figure

from bot.scales import ASPIRATIONAL_SUCCESS

Series = dict[str, list[tuple[int, float, float]]]  # label → (week, progress 0-1, confidence 0-10)


def render(title: str, series: Series, weeks: int) -> bytes:
    """A PNG with two panels sharing the week axis: progress (%) above, confidence below."""
    figure = Figure(figsize=(8, 5), dpi=100)
    progress_axes, confidence_axes = figure.subplots(2, 1, sharex=True)
    for label, points in series.items():
        xs = [week for week, _, _ in points]
        progress_axes.plot(xs, [p * 100 for _, p, _ in points], marker="o", markersize=3, label=label)
        confidence_axes.plot(xs, [c for _, _, c in points], marker="o", markersize=3, label=label)
    progress_axes.set_ylabel("progress %")
    progress_axes.set_ylim(0, 100)
    confidence_axes.set_ylabel("confidence")
    confidence_axes.set_ylim(0, 10)
    confidence_axes.axhspan(0, 3.5, color="#e01e5a", alpha=0.08)
    confidence_axes.axhspan(3.5, 6.5, color="#ecb22e", alpha=0.08)
    confidence_axes.axhspan(6.5, 10, color="#2eb67d", alpha=0.08)
    confidence_axes.set_xlabel("week of the cycle")
    confidence_axes.set_xlim(0.5, max(weeks, 1) + 0.5)
    for axes in (progress_axes, confidence_axes):
        axes.grid(alpha=0.3)
    if series:
        progress_axes.legend(loc="upper left", fontsize=8, ncols=min(4, len(series)))
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def render_async(title: str, series: Series, weeks: int) -> bytes:
    return await asyncio.to_thread(render, title, series, weeks)


ReviewBars = dict[str, tuple[float | None, float | None]]  # team → (committed, aspirational) score


def render_review(title: str, bars: ReviewBars) -> bytes:
    """A PNG of the cycle review: per team, the average score of its committed key results and of
    its aspirational ones, side by side, against the 0.7 line aspirational objectives aim for.
    The two kinds differ in colour and in hatch, so they stay apart in grey too. CPU work: run it
    in a thread (``asyncio.to_thread``)."""
    figure = Figure(figsize=(8, 5), dpi=100)
    axes = figure.subplots()
    teams = list(bars)
    width = 0.38
    for offset, index, label, colour, hatch in (
        (-width / 2, 0, "committed", "#1264a3", "//"),
        (width / 2, 1, "aspirational", "#ecb22e", ".."),
    ):
        drawn = [(i + offset, value) for i, team in enumerate(teams) if (value := bars[team][index]) is not None]
        axes.bar(
            [x for x, _ in drawn],
            [h for _, h in drawn],
            width,
            label=label,
            color=colour,
            hatch=hatch,
            edgecolor="#1d1c1d",
        )
    axes.axhline(ASPIRATIONAL_SUCCESS, color="#e01e5a", linestyle="--", linewidth=2,
                 label=f"{ASPIRATIONAL_SUCCESS} aspirational success")  # fmt: skip
    axes.set_xticks(range(len(teams)), teams, fontsize=12)
    axes.set_xlim(-0.6, max(len(teams), 1) - 0.4)
    axes.set_ylim(0, 1.3)  # room above 1.0 for the legend
    axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_ylabel("average score", fontsize=12)
    axes.tick_params(axis="y", labelsize=12)
    axes.grid(axis="y", alpha=0.3)
    if not teams:
        axes.text(0.5, 0.5, "no key results", transform=axes.transAxes, ha="center", fontsize=14)
    axes.legend(loc="upper center", fontsize=11, ncols=3)
    figure.suptitle(title, fontsize=14)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
