"""Forecast a campaign before it is published (issue #21): what it would cost, and when its
budget or its codes would run out.

- Live action / inaction: `live_replay` replays the last N days of stored events through the
  engine without writing (`promotions.engine.replay`: the engine's own matching rules and its
  one decision, `limits.decide`, on in-memory counters), and `live_report` turns the decisions
  into the page's days, totals and sentences.
- Past behaviour / custom list: `bulk_forecast` counts the exact audience now and what one run
  would take (Random: expected total and a 5–95 % range by the normal approximation from the
  per-reward variance of the favor's exact distribution), against the budget and the codes left.

Approximations, said in the result: the past-behaviour filter of a live campaign is evaluated
on today's profiles (the engine evaluates it when each event arrives); the campaign's own
start and end are ignored (the window is the replay's).

`forecast_start` creates the progress row and wakes the `promotions.forecast_run` task;
`forecast_run` does the work and writes progress and the result on the row.
"""

import datetime
import logging
import math
from collections import Counter as Tally
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts import outbox
from accounts.account import account_tzinfo
from promotions import catalogue
from promotions.engine import limits
from promotions.engine.replay import Replay, codes_left, live_items, replay_items
from promotions.models import Campaign, Forecast, Grant
from promotions.points import random_points_distribution
from segments.models import Profile

log = logging.getLogger(__name__)

C = Campaign
DEFAULT_DAYS = 30
MAX_DAYS = 90
TASK = "promotions.forecast_run"
LARGEST = 5
Z_95 = 1.6448536269514722  # the 95th percentile of the standard normal


# --- Live action / inaction: the replay ------------------------------------------------------------


def live_replay(
    campaign: Campaign, *, days: int = DEFAULT_DAYS, now: datetime.datetime | None = None, rng=None, progress=None
) -> tuple[Replay, datetime.datetime, datetime.datetime]:
    """Replay the last `days` days of stored events through the campaign; (replay, since, until)."""
    until = now or timezone.now()
    since = until - datetime.timedelta(days=max(1, min(days, MAX_DAYS)))
    items = live_items(campaign, since=since, until=until)
    if progress:
        progress(0.0)
    replay = replay_items(campaign, items, rng=rng, progress=progress)
    if campaign.past_filter:
        replay.approximations.append("The past-behaviour filter is read on today's profiles.")
    if replay.held_out:
        replay.approximations.append(
            f"{replay.held_out:,} triggers came from the {campaign.holdout_percent} % holdout group: not rewarded."
        )
    if campaign.reward_type == C.RewardType.POINTS and campaign.points_type == C.PointsType.RANDOM:
        replay.approximations.append("Random points: one seeded draw per trigger, as the engine draws them.")
    return replay, since, until


# --- The report ------------------------------------------------------------------------------------


def _n(value) -> str:
    """A number as the page shows it: thousands separated, no trailing zeros."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.quantize(Decimal('0.01')):,}".rstrip("0").rstrip(".")


def _plural(n: int, word: str) -> str:
    return f"{_n(n)} {word}{'' if n == 1 else 's'}"


def live_report(campaign: Campaign, replay: Replay, *, since, until) -> dict:
    """The JSON the page shows: per day, totals, run-out day, largest rewards, refusals per cap."""
    tz = account_tzinfo()
    first = since.astimezone(tz).date()
    last = (until - datetime.timedelta(microseconds=1)).astimezone(tz).date()
    days = [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]
    per_day = {d: {"rewards": 0, "points": Decimal(0), "codes": 0, "refused": 0} for d in days}
    refused = Tally()
    profiles = set()
    granted = []
    codes = campaign.reward_type in (C.RewardType.COUPON, C.RewardType.VOUCHER)
    for d in replay.decisions:
        day = per_day.setdefault(
            d.at.astimezone(tz).date(), {"rewards": 0, "points": Decimal(0), "codes": 0, "refused": 0}
        )
        if d.reason:
            refused[str(d.reason)] += 1
            day["refused"] += 1
            continue
        day["rewards"] += 1
        day["points"] += d.points or 0
        day["codes"] += 1 if codes else 0
        profiles.add(d.profile_id)
        granted.append(d)
    total_points = sum((d.points or Decimal(0) for d in granted), Decimal(0))
    largest = sorted((d for d in granted if d.points), key=lambda d: (-d.points, d.at))[:LARGEST]
    end_day = (replay.ended_at.astimezone(tz).date() - first).days + 1 if replay.ended_at else None
    # A budget can run dry without being used up to the last point (a Percentage reward larger
    # than what is left is refused, and the engine keeps the campaign running): the first such
    # refusal is when the money ran out, for the marketer.
    dry = next((d for d in replay.decisions if d.reason == Grant.Reason.CAMPAIGN_BUDGET), None)
    dry_date = dry.at.astimezone(tz).date() if dry else None
    identities = dict(Profile.objects.filter(pk__in={d.profile_id for d in largest}).values_list("pk", "identity"))
    report = {
        "kind": "live",
        "days": round((until - since) / datetime.timedelta(days=1)),  # the window asked for
        "calendar_days": len(days),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "reward_type": campaign.reward_type,
        "triggers": replay.triggers,
        "decided": len(replay.decisions),
        "after_end": replay.triggers - len(replay.decisions),
        "rewards": len(granted),
        "points": str(total_points),
        "codes": len(granted) if codes else 0,
        "profiles": len(profiles),
        "budget": str(campaign.budget_campaign) if campaign.budget_campaign is not None else None,
        "codes_left": replay.codes_left,
        "max_codes": campaign.max_codes_per_campaign,
        "end_reason": replay.end_reason,
        "end_day": end_day,
        "end_date": replay.ended_at.astimezone(tz).date().isoformat() if replay.ended_at else None,
        "budget_dry_day": (dry_date - first).days + 1 if dry_date else None,
        "budget_dry_date": f"{dry_date:%d %b}" if dry_date else None,
        "per_day": [
            {
                "day": d.isoformat(),
                "rewards": v["rewards"],
                "points": str(v["points"]),
                "codes": v["codes"],
                "refused": v["refused"],
            }
            for d, v in sorted(per_day.items())
        ],
        "largest": [
            {
                "profile_id": d.profile_id,
                "identity": identities.get(d.profile_id, f"profile {d.profile_id}"),
                "points": str(d.points),
                "at": f"{d.at.astimezone(tz):%d %b %Y, %H:%M}",
            }
            for d in largest
        ],
        "refused": dict(refused.most_common()),
        "approximations": replay.approximations,
    }
    report["summary"] = live_summary(campaign, report)
    return report


def live_summary(campaign: Campaign, report: dict) -> str:
    """The plain sentence(s) the marketer reads."""
    days = report["days"]
    pace = "last month's pace" if days == DEFAULT_DAYS else f"the pace of the last {days} days"
    parts = []
    if report["triggers"] == 0:
        return f"No stored event of the last {_plural(days, 'day')} would have triggered this campaign."
    end_day = report["end_day"]
    points = Decimal(report["points"])
    if report["end_reason"] == limits.END_BUDGET:
        parts.append(
            f"At {pace} this campaign spends its {_n(Decimal(report['budget']))} points budget "
            f"in {_plural(end_day, 'day')}."
        )
    elif report["end_reason"].startswith("Codes ran out"):
        source = "voucher list" if campaign.reward_type == C.RewardType.VOUCHER else "coupon series"
        parts.append(f"At {pace} the {source} of {_plural(report['codes_left'], 'code')} runs out on day {end_day}.")
    elif report["end_reason"]:
        parts.append(
            f"At {pace} this campaign reaches its limit of {_plural(report['max_codes'], 'code')} on day {end_day}."
        )
    elif report["budget"] is not None and report.get("budget_dry_day"):
        refused = report["refused"].get(str(Grant.Reason.CAMPAIGN_BUDGET), 0)
        parts.append(
            f"At {pace} this campaign spends {_n(points)} of its {_n(Decimal(report['budget']))} points budget "
            f"by day {report['budget_dry_day']} ({report['budget_dry_date']}); after that "
            f"{_plural(refused, 'trigger')} find too little budget left."
        )
    elif report["budget"] is not None and points > 0:
        budget = Decimal(report["budget"])
        lasts = math.floor(budget / (points / days)) if points else None
        parts.append(
            f"At {pace} this campaign spends {_n(points)} of its {_n(budget)} points budget in {_plural(days, 'day')}; "
            f"the budget lasts about {_plural(lasts, 'day')}."
        )
    elif report["codes_left"] is not None and report["codes"]:
        lasts = math.floor(report["codes_left"] / (report["codes"] / days))
        parts.append(
            f"At {pace} this campaign gives {_plural(report['codes'], 'code')} in {_plural(days, 'day')}; "
            f"the {_plural(report['codes_left'], 'code')} left last about {_plural(lasts, 'day')}."
        )
    what = f"{_n(points)} points" if campaign.reward_type == C.RewardType.POINTS else _plural(report["codes"], "code")
    parts.append(
        f"{_plural(report['rewards'], 'reward')} ({what}) to {_plural(report['profiles'], 'profile')} "
        f"from {_plural(report['triggers'], 'trigger')}."
    )
    return " ".join(parts)


# --- Past behaviour / custom list ------------------------------------------------------------------


def _random_moments(campaign: Campaign) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(mean, variance, min, max) of one Random reward, capped by max points per reward (exact)."""
    dist = random_points_distribution(campaign.random_min, campaign.random_max, campaign.random_favor or "avg")
    cap = campaign.max_points_per_reward
    values = {}
    for v, p in dist.items():
        v = min(Decimal(v), cap) if cap is not None else Decimal(v)
        values[v] = values.get(v, 0) + p
    mean = sum(v * Decimal(p.numerator) / Decimal(p.denominator) for v, p in values.items())
    var = sum((v - mean) ** 2 * Decimal(p.numerator) / Decimal(p.denominator) for v, p in values.items())
    return mean, var, min(values), max(values)


def bulk_forecast(campaign: Campaign) -> dict:
    """What one run of a past-behaviour / custom-list campaign takes, with today's audience."""
    audience = catalogue.audience_count(campaign) or 0
    report = {
        "kind": "bulk",
        "audience": audience,
        "reward_type": campaign.reward_type,
        "recurring": campaign.delivery == C.Delivery.RECURRING,
        "budget": str(campaign.budget_campaign) if campaign.budget_campaign is not None else None,
        "codes_left": codes_left(campaign),
        "approximations": [],
    }
    sentences = [f"The audience today is {_plural(audience, 'profile')}."]
    per_run = " per run" if report["recurring"] else ""
    if campaign.reward_type == C.RewardType.POINTS:
        if campaign.points_type == C.PointsType.FLAT and campaign.flat_points is not None:
            each = campaign.flat_points
            if campaign.max_points_per_reward is not None:
                each = min(each, campaign.max_points_per_reward)
            total = each * audience
            report.update(points=str(total), low=str(total), high=str(total), method="exact")
            sentences.append(f"It takes {_n(total)} points{per_run} ({_n(each)} each).")
        elif campaign.points_type == C.PointsType.RANDOM and campaign.random_min is not None and campaign.random_max:
            mean, var, lo, hi = _random_moments(campaign)
            total = mean * audience
            spread = Decimal(Z_95) * (var * audience).sqrt() if audience else Decimal(0)
            low = max(total - spread, lo * audience).quantize(Decimal(1))
            high = min(total + spread, hi * audience).quantize(Decimal(1))
            report.update(points=str(total.quantize(Decimal("0.001"))), low=str(low), high=str(high), method="normal")
            sentences.append(
                f"It takes about {_n(total.quantize(Decimal('0.01')))} points{per_run} "
                f"(5–95 %: {_n(low)} to {_n(high)}; normal approximation from the per-reward variance "
                f"of the exact {campaign.random_favor or 'avg'} distribution)."
            )
        else:
            report.update(points=None)
            sentences.append("Its points depend on an event property: no bulk forecast.")
        if report.get("points") and report["budget"] is not None:
            budget, need = Decimal(report["budget"]), Decimal(report["high"])
            if need > budget:
                sentences.append(f"The {_n(budget)} points budget does not cover one run.")
            elif need:
                runs = math.floor(budget / Decimal(report["points"]))
                sentences.append(f"The {_n(budget)} points budget covers about {_plural(runs, 'run')}.")
    else:
        cap = campaign.max_codes_per_campaign
        need = min(audience, cap) if cap else audience
        report["codes"] = need
        sentences.append(f"It takes {_plural(need, 'code')}{per_run}.")
        left = report["codes_left"]
        if left is not None:
            if need > left:
                sentences.append(f"Only {_plural(left, 'code')} are left: {_n(need - left)} profiles would get none.")
            else:
                sentences.append(f"{_plural(left, 'code')} are left.")
    report["summary"] = " ".join(sentences)
    return report


# --- The background job ----------------------------------------------------------------------------


def forecast_start(*, campaign: Campaign, days: int = DEFAULT_DAYS) -> Forecast:
    """A new forecast row (Waiting) and the task woken once it is committed."""
    days = max(1, min(int(days or DEFAULT_DAYS), MAX_DAYS))
    forecast = Forecast.objects.create(campaign=campaign, days=days, stage="Waiting for a worker")
    transaction.on_commit(lambda: outbox.outbox_wake(topic=TASK, args=(forecast.pk,)))
    return forecast


def _progress(forecast_id: int, fraction: float, stage: str) -> None:
    Forecast.objects.filter(pk=forecast_id).update(progress=min(99, int(fraction * 100)), stage=stage)


def forecast_run(*, forecast_id: int) -> str:
    """Compute one forecast and store its result; a second run of a finished one does nothing."""
    forecast = Forecast.objects.select_related("campaign").filter(pk=forecast_id).first()
    if forecast is None or forecast.status == Forecast.Status.DONE:
        return "skip"
    Forecast.objects.filter(pk=forecast_id).update(status=Forecast.Status.RUNNING, progress=0, stage="Reading events")
    campaign = Campaign.objects.select_related("wallet", "coupon", "voucher_list").get(pk=forecast.campaign_id)
    try:
        if campaign.is_live:
            replay, since, until = live_replay(
                campaign,
                days=forecast.days,
                progress=lambda f: _progress(forecast_id, 0.1 + 0.85 * f, "Replaying the caps in time order"),
            )
            result = live_report(campaign, replay, since=since, until=until)
        else:
            _progress(forecast_id, 0.1, "Counting the audience")
            result = bulk_forecast(campaign)
    except Exception as exc:
        log.exception("forecast %s failed", forecast_id)
        Forecast.objects.filter(pk=forecast_id).update(
            status=Forecast.Status.FAILED, error=str(exc)[:500], finished_at=timezone.now()
        )
        return "failed"
    Forecast.objects.filter(pk=forecast_id).update(
        status=Forecast.Status.DONE, progress=100, stage="Done", result=result, finished_at=timezone.now()
    )
    return "done"


def forecast_latest(*, campaign: Campaign) -> Forecast | None:
    return campaign.forecasts.order_by("-created_at", "-pk").first()
