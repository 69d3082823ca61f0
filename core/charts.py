"""Grouped bar charts drawn as inline SVG on the server (no JavaScript library, nothing from a CDN).

`grouped_bars` returns the geometry; `templates/components/bar_chart.html` draws it. Used by the
wallet page (points per day) and the campaign page (rewards per day / week / month).
"""

import dataclasses
from collections.abc import Callable, Sequence
from decimal import Decimal


@dataclasses.dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


def _nice_ceiling(value) -> Decimal:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _text(value) -> str:
    return f"{Decimal(value).normalize():f}"


def grouped_bars(
    rows: Sequence,
    *,
    series: Sequence[tuple[str, str, str]],
    label: Callable[[object], str],
    title: Callable[[object], str],
    width: int = 900,
    height: int = 240,
    left: int = 56,
    bottom: int = 28,
) -> dict:
    """Geometry for one bar per series (attribute, label, colour) per row, with axis ticks and row labels.

    `label(row)` is the axis text under a row's bars, `title(row)` the start of each bar's tooltip.
    """
    plot_w, plot_h = width - left - 8, height - bottom - 8
    peak = max((getattr(row, key) or 0 for row in rows for key, _, _ in series), default=Decimal(0))
    top = _nice_ceiling(peak)
    slot = plot_w / max(len(rows), 1)
    bar_w = max(slot * 0.8 / len(series), 1)
    bars, labels = [], []
    every = max(1, len(rows) // 10)
    for i, row in enumerate(rows):
        x0 = left + i * slot + slot * 0.1
        for j, (key, name, color) in enumerate(series):
            value = getattr(row, key) or 0
            h = float(value / top) * plot_h if top else 0
            bars.append(
                Bar(
                    x=round(x0 + j * bar_w, 2),
                    y=round(8 + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    color=color,
                    title=f"{title(row)} · {name}: {_text(value)}",
                )
            )
        if i % every == 0:
            labels.append({"x": round(left + i * slot + slot / 2, 2), "text": label(row)})
    ticks = [
        {"y": round(8 + plot_h - plot_h * f, 2), "text": _text(top * Decimal(str(f)))} for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "plot_right": width - 8,
        "baseline": 8 + plot_h,
        "label_y": height - 8,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "legend": [{"label": name, "color": color} for _, name, color in series],
    }
