"""The capability map drawn (bot/valuechain.py says what is on it): a PNG of at most
1600 × 900 px whose smallest text is 14 px, the size chat clients show a picture at.

Drawn in pixel coordinates on one axes. Rendering is CPU work: :func:`render_async` runs it in
a thread. Text is cut with an ellipsis to its box and clipped to it, and characters the font
cannot draw are left out, so no title (emoji, 200 characters) can break the layout; ``$`` is
never read as mathematics.
"""

from __future__ import annotations

import asyncio
import functools
import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager, ft2font
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.transforms import Bbox, TransformedBbox

from bot.valuechain import Chip, ValueChainMap, summed

WIDTH, HEIGHT = 1600, 900  # the most a chat client shows without shrinking the text
DPI = 100
MIN_TEXT_PX = 14
PT = 72 / DPI  # points per pixel
FILL = {"red": "#e01e5a", "yellow": "#ecb22e", "green": "#2eb67d", "grey": "#bfc5cc"}
INK = {"red": "white", "yellow": "#1d1c1d", "green": "white", "grey": "#1d1c1d"}
FONT = "DejaVu Sans"
CHAR_PX = 0.62  # DejaVu Sans' mean advance, in ems: what a box holds before its ellipsis

MARGIN, TITLE_H, STAGE_H, SUB_H, LEGEND_H = 16, 40, 42, 26, 40  # a stage's name takes two lines
LABEL_MIN, LABEL_MAX = 120, 230
LEGEND_W = 1320  # the legend in one line: no map is narrower
CHIP_H, CHIP_GAP = 24, 4  # roomy; a crowded map goes down to DENSE_H (text stays 14 px)
DENSE_H, DENSE_GAP = 20, 2


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    label_w: float
    column_w: float
    top: float  # where the first lane starts
    lane_h: tuple[float, ...]
    per_cell: int  # chips drawn in one cell; past that, "+n more" (one chip summing them at 1)
    chip_h: float = CHIP_H
    gap: float = CHIP_GAP

    @property
    def bottom(self) -> float:
        return self.top + sum(self.lane_h)


def layout(chart: ValueChainMap) -> Layout:
    n = max(1, len(chart.columns))
    longest = max((len(lane.label) for lane in chart.lanes), default=8)
    label_w = min(LABEL_MAX, max(LABEL_MIN, longest * MIN_TEXT_PX * CHAR_PX + 24))
    width = int(min(WIDTH, max(LEGEND_W, label_w + n * 230 + 2 * MARGIN)))
    column_w = (width - 2 * MARGIN - label_w) / n
    subs = any(c.sub for c in chart.columns)
    top = MARGIN + TITLE_H + STAGE_H + (SUB_H if subs else 0)
    room = HEIGHT - top - LEGEND_H - MARGIN
    most = [max((len(cell) for cell in lane.cells), default=0) for lane in chart.lanes]
    per_cell = max(1, max(most, default=1))
    chip_h, gap = float(CHIP_H), float(CHIP_GAP)
    while per_cell > 1 and sum(_lane_h(min(m, per_cell), chip_h, gap) for m in most) > room:
        per_cell -= 1
    if sum(_lane_h(min(m, per_cell), chip_h, gap) for m in most) > room:  # one chip a lane, and still too tall
        gap = DENSE_GAP
        chip_h = max(DENSE_H, float(int(room / max(1, len(most)) - 2 * gap)))
    lanes = tuple(_lane_h(min(m, per_cell), chip_h, gap) for m in most)
    height = int(min(HEIGHT, max(360, top + sum(lanes) + LEGEND_H + MARGIN)))
    return Layout(width, height, label_w, column_w, top, lanes, per_cell, chip_h, gap)


def _lane_h(chips: int, chip_h: float, gap: float) -> float:
    return max(1, chips) * (chip_h + gap) + gap


def wrap(text: str, px: float, lines: int = 2) -> str:
    """``text`` in at most ``lines`` lines of about ``px`` pixels, the last cut with an ellipsis."""
    room = max(1, int(px / (MIN_TEXT_PX * CHAR_PX)))
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and len(line) + 1 + len(words[0]) <= room:
            line += " " + words.pop(0)
        out.append(fit(line, px))
    if words:
        out.append(fit(" ".join(words), px))
    return "\n".join(out)


@functools.cache
def _drawable() -> frozenset[int]:
    path = font_manager.findfont(FONT)
    return frozenset(ft2font.FT2Font(path).get_charmap())


def clean(text: str) -> str:
    """``text`` without what the font cannot draw (emoji, most scripts it lacks) or control
    characters, its runs of spaces made one."""
    drawable = _drawable()
    kept = "".join(ch if ord(ch) in drawable and ch.isprintable() else " " for ch in text)
    return " ".join(kept.split())


def fit(text: str, px: float, size_px: float = MIN_TEXT_PX) -> str:
    """``text`` cut with an ellipsis to about ``px`` pixels wide."""
    room = max(1, int(px / (size_px * CHAR_PX)))
    return text if len(text) <= room else text[: max(0, room - 1)].rstrip() + "…"


def render(chart: ValueChainMap) -> bytes:
    if chart.empty:
        return _empty(chart.title)
    box = layout(chart)
    figure = Figure(figsize=(box.width / DPI, box.height / DPI), dpi=DPI, facecolor="white")
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, box.width)
    axes.set_ylim(box.height, 0)
    axes.axis("off")
    _text(axes, MARGIN, MARGIN + 14, fit(clean(chart.title), box.width * 0.6, 20), 20, weight="bold")
    if chart.grouped:
        note = f"{chart.grouped} teams, grouped by the stages they feed; a chip counts their objectives"
        _text(axes, box.width - MARGIN, MARGIN + 14, note, MIN_TEXT_PX, ha="right", color="#616061")
    left = MARGIN + box.label_w
    _headers(axes, chart, box, left, box.bottom)
    places = _lanes(axes, chart, box, left)
    _arrows(axes, chart, places)
    _legend(axes, box)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})  # a third of the time of 6
    return buffer.getvalue()


def _headers(axes: Axes, chart: ValueChainMap, box: Layout, left: float, bottom: float) -> None:
    subs = any(c.sub for c in chart.columns)
    stage_y = MARGIN + TITLE_H
    spans: list[tuple[int, int]] = []  # (first column, last column) of each stage
    for i, column in enumerate(chart.columns):
        if spans and chart.columns[spans[-1][0]].stage_index == column.stage_index:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    for first, last in spans:
        column = chart.columns[first]
        x0, x1 = left + first * box.column_w, left + (last + 1) * box.column_w
        shade = "#f4ede4" if column.unaligned else "#e8f0fa"
        axes.add_patch(Rectangle((x0 + 1, stage_y), x1 - x0 - 2, STAGE_H - 2, color=shade, lw=0))
        mark = "◆ " if column.lonely else ""
        name = column.stage if column.unaligned else f"{column.stage_index}. {clean(column.stage)}"
        label = wrap(mark + name, x1 - x0 - 10)
        _text(axes, (x0 + x1) / 2, stage_y + STAGE_H / 2, label, MIN_TEXT_PX, ha="center", weight="bold",
              clip=(x0, stage_y, x1 - x0, STAGE_H), linespacing=1.0)  # fmt: skip
        if first:
            axes.vlines(x0, stage_y, bottom, color="#9aa5b1", lw=1.2)
    for i, column in enumerate(chart.columns):
        x0 = left + i * box.column_w
        if subs and column.sub:
            _text(axes, x0 + box.column_w / 2, stage_y + STAGE_H + SUB_H / 2,
                  fit(clean(column.name), box.column_w - 10), MIN_TEXT_PX, ha="center", color="#454245",
                  clip=(x0, stage_y + STAGE_H, box.column_w, SUB_H))  # fmt: skip
        elif (
            subs and not column.unaligned and any(c.sub and c.stage_index == column.stage_index for c in chart.columns)
        ):
            _text(axes, x0 + box.column_w / 2, stage_y + STAGE_H + SUB_H / 2, "(stage)", MIN_TEXT_PX,
                  ha="center", color="#454245")  # fmt: skip
        if column.gap:
            axes.add_patch(Rectangle((x0 + 2, box.top), box.column_w - 4, bottom - box.top, facecolor="#eeeeee",
                                     edgecolor="#b0b0b0", hatch="//", lw=0.8))  # fmt: skip
            _text(axes, x0 + box.column_w / 2, box.top + 16, fit("gap: nobody", box.column_w - 8), MIN_TEXT_PX,
                  ha="center", color="#8a1538", weight="bold")  # fmt: skip
        elif i:
            axes.vlines(x0, box.top, bottom, color="#dde1e6", lw=0.8)


def _lanes(axes: Axes, chart: ValueChainMap, box: Layout, left: float) -> dict[int, tuple[float, float, float]]:
    """Every lane and its chips; where each drawn chip is (x, y, width), by objective id."""
    places: dict[int, tuple[float, float, float]] = {}
    chips: list[FancyBboxPatch] = []
    colours: list[str] = []
    bars: list[Rectangle] = []
    y = box.top
    for lane, lane_h in zip(chart.lanes, box.lane_h, strict=True):
        if lane.highlighted:
            axes.add_patch(Rectangle((MARGIN, y), box.width - 2 * MARGIN, lane_h, color="#fff4cc", lw=0))
        axes.plot([MARGIN, box.width - MARGIN], [y, y], color="#dde1e6", lw=0.8)
        _text(axes, MARGIN + 6, y + box.gap + box.chip_h / 2, fit(clean(lane.label), box.label_w - 12), MIN_TEXT_PX,
              weight="bold" if lane.highlighted else "normal", clip=(MARGIN, y, box.label_w, lane_h))  # fmt: skip
        for i, cell in enumerate(lane.cells):
            x = left + i * box.column_w + 4
            w = box.column_w - 8
            shown = cell if len(cell) <= box.per_cell else cell[: box.per_cell - 1]
            if not shown and cell:
                shown = summed(cell)  # room for one chip only: one that sums them
            for k, chip in enumerate(shown):
                cy = y + box.gap + k * (box.chip_h + box.gap)
                chips.append(FancyBboxPatch((x, cy), w, box.chip_h, boxstyle="round,pad=0,rounding_size=4"))
                colours.append(FILL[chip.colour])
                if chip.progress is not None:
                    bars.append(Rectangle((x + 3, cy + box.chip_h - 4), (w - 6) * chip.progress, 3))
                _chip_text(axes, chip, x, cy, w, box.chip_h)
                if chip.count == 1:
                    places[chip.objective_id] = (x, cy + box.chip_h / 2, w)
            if len(shown) < len(cell) and not (len(shown) == 1 and shown[0].count > 1):
                cy = y + box.gap + len(shown) * (box.chip_h + box.gap)
                _text(axes, x + 4, cy + box.chip_h / 2, f"+{len(cell) - len(shown)} more", MIN_TEXT_PX, color="#454245")
        y += lane_h
    axes.add_collection(PatchCollection(chips, facecolors=colours, edgecolors="none"))
    axes.add_collection(PatchCollection(bars, facecolors="#1d1c1d", edgecolors="none", alpha=0.55))
    return places


def _chip_text(axes: Axes, chip: Chip, x: float, y: float, w: float, h: float) -> None:
    ink = INK[chip.colour]
    narrow = w - 8 < 5 * MIN_TEXT_PX * CHAR_PX  # not even "9 obj" and the mark: the count alone
    mark = 16 if chip.behind and not narrow else 0
    words = chip.ref if not chip.title else f"{chip.ref} {clean(chip.title)}"
    if narrow and chip.count > 1:
        words = str(chip.count)
    _text(axes, x + 4, y + h / 2 - 1, fit(words, w - 8 - mark), MIN_TEXT_PX, color=ink,
          clip=(x, y, w - mark, h))  # fmt: skip
    if mark:
        _text(axes, x + w - 4, y + h / 2 - 1, "▼", MIN_TEXT_PX, color=ink, ha="right")


def _arrows(axes: Axes, chart: ValueChainMap, places: dict[int, tuple[float, float, float]]) -> None:
    for arrow in chart.arrows:
        if arrow.child not in places or arrow.parent not in places:
            continue  # one of them is past its cell's "+n more"
        cx, cy, cw = places[arrow.child]  # x, the middle's y, width
        px, py, pw = places[arrow.parent]
        start = (cx + cw, cy) if px >= cx + cw else (cx, cy)
        end = (px, py) if px >= cx + cw else (px + pw, py)
        if abs(px - cx) < 1:  # the same column: from the chip's side, round to the other
            start, end = (cx + cw, cy), (px + pw, py)
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#1264a3", lw=1.6,
                                       connectionstyle="arc3,rad=-0.25", alpha=0.85, zorder=5))  # fmt: skip


def _legend(axes: Axes, box: Layout) -> None:
    y = box.height - MARGIN - LEGEND_H / 2
    x = float(MARGIN)
    for colour, words in (("green", "confidence 7–10"), ("yellow", "4–6"), ("red", "0–3"), ("grey", "no KRs")):
        axes.add_patch(Rectangle((x, y - 8), 16, 16, color=FILL[colour], lw=0))
        x = _text(axes, x + 22, y, words, MIN_TEXT_PX) - _slack(words) + 18
    for words in ("bar: progress", "▼ behind pace", "◆ stage fed by one team", "→ supports another team's objective"):
        x = _text(axes, x, y, words, MIN_TEXT_PX, color="#454245") - _slack(words) + 22
    axes.add_patch(Rectangle((x, y - 8), 22, 16, facecolor="#eeeeee", edgecolor="#b0b0b0", hatch="//", lw=0.8))
    _text(axes, x + 28, y, "gap: no objective", MIN_TEXT_PX, color="#454245")


def _slack(words: str) -> float:
    """How much wider than the words the fitting estimate is (CHAR_PX errs wide, so that a cut
    title always fits; the legend's items sit closer)."""
    return len(words) * MIN_TEXT_PX * (CHAR_PX - 0.55)


def _text(
    axes: Axes, x: float, y: float, words: str, px: float, *, clip: tuple[float, float, float, float] | None = None,
    ha: str = "left", **style: Any,
) -> float:  # fmt: skip
    """Draw ``words`` ``px`` pixels high centred on ``y``; the x where they (about) end."""
    style.setdefault("family", FONT)
    text = axes.text(x, y, words, fontsize=px * PT, ha=ha, va="center", parse_math=False, **style)
    if clip is not None:  # a box, not a path: Agg clips to a rectangle at no cost
        x0, y0, w, h = clip
        text.set_clip_box(TransformedBbox(Bbox.from_bounds(x0, y0, w, h), axes.transData))
        text.set_clip_on(True)
    return x + len(words) * px * CHAR_PX


def _empty(title: str) -> bytes:
    figure = Figure(figsize=(900 / DPI, 360 / DPI), dpi=DPI, facecolor="white")
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 900)
    axes.set_ylim(360, 0)
    axes.axis("off")
    axes.add_patch(Rectangle((MARGIN, MARGIN), 900 - 2 * MARGIN, 360 - 2 * MARGIN, facecolor="#f8f8f8",
                             edgecolor="#b0b0b0", lw=1))  # fmt: skip
    _text(axes, 450, 110, fit(clean(title), 820, 20), 20, ha="center", weight="bold")
    _text(axes, 450, 170, "No value chain yet.", 18, ha="center")
    _text(axes, 450, 215, "Add its stages, left to right:", MIN_TEXT_PX, ha="center", color="#454245")
    _text(axes, 450, 250, 'capability add <key> "<name>" [--position N]', MIN_TEXT_PX, ha="center", family="monospace")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


async def render_async(chart: ValueChainMap) -> bytes:
    return await asyncio.to_thread(render, chart)
