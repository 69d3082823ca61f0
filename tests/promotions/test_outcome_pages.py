"""The outcome report on the campaign page and the API, and "Why this profile?" (issue #19)."""

import datetime

import pytest
from django.utils import timezone

from promotions import holdout, outcomes
from promotions.engine import runs
from promotions.models import Campaign, CampaignOutcome, CampaignRun, Grant
from segments.models import Event, Profile
from tests.promotions.helpers import HTMX, campaign_past
from tests.promotions.live_support import process, running_live, store
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason
API = "/api/1/promo/campaigns"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def _measured_campaign(n=400, rates=(0.05, 0.40)):
    """A completed run with a 20 % holdout, grants 2 days ago, and conversions at the given rates."""
    campaign = campaign_past(
        members=0,
        status=C.Status.COMPLETED,
        holdout_percent=20,
        goal_event="Charged",
        goal_window_value=1,
        goal_window_unit=C.GoalWindowUnit.DAYS,
        goal_value_property="Amount",
    )
    at = timezone.now() - datetime.timedelta(days=2)
    profiles = Profile.objects.bulk_create([Profile(identity=f"m{i}") for i in range(n)])
    held = holdout.held_out_ids(campaign_id=campaign.pk, profile_ids=[p.pk for p in profiles], percent=20)
    Grant.objects.bulk_create(
        Grant(
            campaign=campaign,
            profile=p,
            occurrence="run:1",
            granted=p.pk not in held,
            reason=R.HELD_OUT if p.pk in held else "",
            points=None if p.pk in held else 100,
            created_at=at,
        )
        for p in profiles
    )
    events = []
    for i, p in enumerate(profiles):
        rate = rates[0] if p.pk in held else rates[1]
        if (i * 7919) % 1000 < rate * 1000:  # deterministic, spread evenly
            events.append(
                Event(
                    profile=p, name="Charged", properties={"Amount": 50}, occurred_at=at + datetime.timedelta(hours=3)
                )
            )
    Event.objects.bulk_create(events)
    return campaign, held, profiles


def test_page_refresh_computes_the_report_and_shows_verdict_interval_cost_and_chart(marketer_client):
    campaign, held, _ = _measured_campaign()
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="outcome-report"' in page and "Not computed yet" in page
    response = marketer_client.post(f"/campaigns/{campaign.pk}/outcome/refresh/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="outcome-report"' in html and "<html" not in html
    report = CampaignOutcome.objects.get(pk=campaign.pk).report
    assert report["verdict"].endswith("the reward raised conversion.")
    assert report["verdict"] in html
    assert 'id="uplift-absolute"' in html and "95 % CI" in html
    assert 'id="uplift-cost"' in html and "points" in html
    assert 'class="bar-chart"' in html
    assert "Computed " in html
    # Held-out profiles are not errors on the page.
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "No distribution errors" in page


def test_api_detail_carries_the_outcome_report_and_held_out_count(api_client):
    campaign, held, _ = _measured_campaign()
    outcomes.outcome_refresh(campaign=campaign)
    detail = api_client.get(f"{API}/{campaign.pk}").json()["campaign"]
    assert detail["stats"]["notGranted"] == 0 and detail["stats"]["heldOut"] == len(held)
    assert detail["notGrantedByReason"] == []
    out = detail["outcome"]
    assert out["groups"]["holdout"]["profiles"] == len(held)
    assert out["uplift"]["lower"] > 0 and out["computedAt"]


def test_why_this_profile_for_a_past_campaign_shows_group_rules_outcome_and_conversions(marketer_client):
    campaign, held, profiles = _measured_campaign()
    one = next(p for p in profiles if p.pk in held)
    html = marketer_client.get(
        f"/campaigns/{campaign.pk}/?identity={one.identity}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="profile-why"
    ).content.decode()
    assert 'id="profile-why"' in html and "<html" not in html
    assert "in the holdout group" in html and "holdout (20 %)" in html
    assert "Held out: in the holdout group, deliberately not rewarded (not an error)." in html
    assert 'id="why-rules"' in html  # the custom-list rule, explained
    missing = marketer_client.get(f"/campaigns/{campaign.pk}/?identity=ghost").content.decode()
    assert "No profile has identity “ghost”." in missing


def test_why_this_profile_for_live_says_which_filter_excluded_an_event_and_the_counters(api_client):
    campaign = running_live(
        triggers=[{"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": 100}]}],
        max_per_user_total=1,
    )
    profile = ProfileFactory(identity="lee")
    small, big, again = store(profile, Amount=5), store(profile, Amount=500), store(profile, Amount=900)
    process(small, big)
    process(again)
    body = api_client.get(f"{API}/{campaign.pk}/profiles/lee").json()
    by_amount = {e["outcome"]: e for e in body["events"]}
    assert any(not e["matched"] and e["why"] == "filter not met: Amount greater than 100" for e in body["events"])
    assert "Granted" in by_amount and R.RECURRENCE_LIMIT in by_amount
    assert {"counter": "This profile, In total", "value": "1 reward(s), 10 points"} in body["counters"]


def test_api_profile_in_the_holdout_is_explained_as_held_out(api_client):
    campaign, held, profiles = _measured_campaign()
    one = next(p for p in profiles if p.pk in held)
    body = api_client.get(f"{API}/{campaign.pk}/profiles/{one.identity}").json()
    assert body["group"] == "holdout" and body["rewarded"] is False
    assert body["explanation"] == "Not rewarded: in the holdout group (deliberately, to measure the campaign)."
    assert [g["reason"] for g in body["grants"]] == ["Held out"]
    assert body["rules"] and body["rules"][0]["true"] in (True, False)


def test_campaign_without_goal_or_holdout_shows_no_report(marketer_client):
    campaign = campaign_past(members=2)
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="outcome-report"' not in page and "Why this profile?" in page
    assert CampaignRun.objects.count() == 0
