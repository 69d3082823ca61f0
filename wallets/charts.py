"""The wallet page's chart: points issued, redeemed and expired per day (core.charts draws it)."""

from core.charts import grouped_bars

SERIES = [("issued", "Issued", "#4f46e5"), ("redeemed", "Redeemed", "#22c1a3"), ("expired", "Expired", "#c0262d")]


def daily_bars(days) -> dict:
    """Geometry for one bar per series per day, plus axis ticks and day labels."""
    return grouped_bars(days, series=SERIES, label=lambda d: f"{d.day:%d %b}", title=lambda d: f"{d.day:%d %b %Y}")
