"""audience_estimate / audience_exact: the two-rule segment through the product's selectors.

Did `Charged` with `Amount` > 100 in the last 30 days AND did not do `Added To Cart` in the
last 7 days; median of five runs after one warm-up. SPEC 9: estimate ≤ 500 ms, exact ≤ 8 s
(at 1/10 scale the exact-count target is scaled to 0.8 s; the estimate's is not, it reads a
fixed-size sample).
"""

from django.utils import timezone

from bench.common import Context, Figure, log, median_ms
from segments import selectors

TWO_RULES = {
    "op": "and",
    "rules": [
        {
            "type": "did",
            "event": "Charged",
            "window": {"type": "last", "amount": 30, "unit": "days"},
            "filters": [{"property": "Amount", "operator": "greater_than", "value": 100}],
        },
        {"type": "did_not", "event": "Added To Cart", "window": {"type": "last", "amount": 7, "unit": "days"}},
    ],
}


def run(ctx: Context):
    now = timezone.now()
    estimate, estimate_ms = median_ms(lambda: selectors.audience_estimate(rules=TWO_RULES, now=now))
    exact, exact_ms = median_ms(lambda: selectors.audience_count(rules=TWO_RULES, now=now), runs=3)
    log(f"audience: estimate ≈{estimate:,}, exact {exact:,} of {ctx.profiles:,} profiles")
    ctx.note(f"two-rule segment: estimate {estimate:,}, exact {exact:,} ({estimate_ms:.0f} ms / {exact_ms:.0f} ms)")
    return [
        Figure.at_most("audience_estimate", estimate_ms, "ms", 500),
        Figure.at_most("audience_exact", exact_ms / 1000, "s", ctx.seconds(8)),
    ]
