"""forecast_replay (issue #21): a 30-day replay of the bench data set through a live Percentage
campaign whose trigger matches 1 % of the events (Charged with Amount > 4752: Charged is 20 % of
the stream, Amount uniform in 50…5000), with a campaign budget, a per-user budget and a daily
cap. The replay ends at the data set's last event (the data set may be older than today), and
runs as the forecast task does: matching in SQL, then the caps in one ordered pass through
`promotions.engine.limits.decide`. Target: ≤ 30 s at full scale (10,000,000 events, 1,000,000 profiles),
scaled like the data.
"""

import datetime
import time

from django.db.models import Max
from django.utils import timezone

from bench.common import Context, Figure, log
from promotions import forecast
from promotions.engine import replay as engine_replay
from promotions.models import Campaign
from segments.models import Event
from wallets.models import Wallet

C = Campaign
RUNS = 3
THRESHOLD = 4752  # Amount > 4752: 248 / 4951 ≈ 5 % of Charged ≈ 1 % of all events


def run(ctx: Context):
    wallet, _ = Wallet.objects.get_or_create(name="Bench forecast coins", defaults={"points_name": "Coins"})
    campaign = Campaign.objects.create(
        name="Bench forecast",
        qualification=C.Qualification.LIVE_ACTION,
        triggers=[
            {"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": THRESHOLD}]}
        ],
        reward_type=C.RewardType.POINTS,
        wallet=wallet,
        points_type=C.PointsType.PERCENTAGE,
        points_property="Amount",
        percentage=5,
        max_points_per_reward=240,
        max_per_user_day=1,
        max_per_user_total=1,
        budget_per_user=2_000,
        budget_campaign=50_000_000,
    )
    last = Event.objects.aggregate(at=Max("occurred_at"))["at"] or timezone.now()
    since = last - datetime.timedelta(days=30)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        items = engine_replay.live_items(campaign, since=since, until=last)  # the matching, in SQL
        matched = time.perf_counter()
        replay = engine_replay.replay_items(campaign, items)  # the caps, one ordered pass of limits.decide
        report = forecast.live_report(campaign, replay, since=since, until=last)
        done = time.perf_counter()
        times.append((done - started, matched - started, done - matched))
        log(f"forecast: {len(items):,} triggers; SQL {matched - started:.2f} s, caps {done - matched:.2f} s")
    total, sql, caps = sorted(times)[len(times) // 2]
    in_window = Event.objects.filter(occurred_at__gte=since, occurred_at__lt=last).count()
    ctx.note(
        f"forecast_replay (median of {RUNS}): 30 days ({in_window:,} events) → {report['triggers']:,} triggers "
        f"({report['triggers'] / max(in_window, 1):.2%}); matching in SQL {sql:.2f} s, caps {caps:.2f} s; "
        f"{report['rewards']:,} rewards, refused {report['refused']}; {report['summary']}"
    )
    campaign.delete()
    yield Figure.at_most("forecast_replay", total, "s", ctx.seconds(30))
