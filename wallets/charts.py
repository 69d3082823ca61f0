"""A small grouped bar chart drawn as inline SVG on the server (no JavaScript library)."""

import dataclasses
from decimal import Decimal

SERIES = [("issued", "Issued", "#4f46e5"), ("redeemed", "Redeemed", "#22c1a3"), ("expired", "Expired", "#c0262d")]


@dataclasses.dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


def _nice_ceiling(value: Decimal) -> Decimal:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def daily_bars(days, *, width: int = 900, height: int = 240, left: int = 56, bottom: int = 28) -> dict:
    """Geometry for one bar per series per day, plus axis ticks and day labels."""
    plot_w, plot_h = width - left - 8, height - bottom - 8
    peak = max((getattr(d, key) for d in days for key, _, _ in SERIES), default=Decimal(0))
    top = _nice_ceiling(peak)
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8 / len(SERIES), 1)
    bars, labels = [], []
    every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x0 = left + i * slot + slot * 0.1
        for j, (key, label, color) in enumerate(SERIES):
            value = getattr(day, key)
            h = float(value / top) * plot_h if top else 0
            bars.append(
                Bar(
                    x=round(x0 + j * bar_w, 2),
                    y=round(8 + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    color=color,
                    title=f"{day.day:%d %b %Y} · {label}: {value.normalize():f}",
                )
            )
        if i % every == 0:
            labels.append({"x": round(left + i * slot + slot / 2, 2), "text": f"{day.day:%d %b}"})
    ticks = [
        {"y": round(8 + plot_h - plot_h * f, 2), "text": f"{(top * Decimal(str(f))).normalize():f}"}
        for f in (0, 0.25, 0.5, 0.75, 1)
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
        "legend": [{"label": label, "color": color} for _, label, color in SERIES],
    }
