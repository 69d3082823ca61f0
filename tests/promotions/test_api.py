"""Campaigns by API (SPEC 7): list with filters and paging, detail with summary and stats,
pause / resume / stop with the buttons' rules, recorded as done by the API key."""

import base64

import pytest
from django.utils import timezone

from accounts.account import account_tzinfo
from promotions import selectors, services, summary
from promotions.models import Campaign, CampaignEvent, CampaignRun, Grant
from tests.factories import ApiKeyFactory
from tests.promotions.factories import CampaignFactory
from tests.promotions.helpers import campaign_live, campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db

LIST = "/api/1/promo/campaigns"
S = Campaign.Status


def _auth(scopes):
    key, secret = ApiKeyFactory.create_with_secret(scopes=scopes)
    return key, {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()}


def test_list_filters_by_status_type_reward_and_search(api_client, marketer):
    live = campaign_live(name="Cashback", user=marketer, status=S.RUNNING)
    past = campaign_past(name="Diwali bonus", status=S.DRAFT)
    coupon = CampaignFactory(name="Coupon drop", reward_type=Campaign.RewardType.COUPON, status=S.PAUSED)
    CampaignFactory(name="Old one", status=S.ARCHIVED)

    def ids(**params):
        response = api_client.get(LIST, params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["records"]]

    # Newest first; archived only when asked for.
    assert ids() == [coupon.pk, past.pk, live.pk]
    assert ids(status="running") == [live.pk]
    assert ids(type="live_action") == [live.pk]
    assert ids(reward="coupon") == [coupon.pk]
    assert ids(q="diwali") == [past.pk]
    assert ids(q=f"#{live.pk}") == [live.pk]
    assert ids(sort="name") == [live.pk, coupon.pk, past.pk]
    assert ids(sort="-name") == [past.pk, coupon.pk, live.pk]
    assert [r["name"] for r in api_client.get(LIST, {"status": "archived"}).json()["records"]] == ["Old one"]
    row = api_client.get(LIST, {"status": "running"}).json()["records"][0]
    assert row == {
        "id": live.pk,
        "name": "Cashback",
        "status": "running",
        "statusLabel": "Running",
        "type": "live_action",
        "typeLabel": "Live action",
        "rewardType": "points",
        "reward": "Flat 10 Supercoins",
        "startsAt": None,
        "endsAt": None,
        "createdBy": marketer.username,
        "rewardedProfiles": 0,
        "url": f"/campaigns/{live.pk}/",
    }


def test_list_pages_and_validates_its_filters(api_client):
    for n in range(5):
        CampaignFactory(name=f"C{n}")
    body = api_client.get(LIST, {"perPage": 2, "page": 3}).json()
    assert (body["page"], body["perPage"], body["totalPages"], body["totalRecords"]) == (3, 2, 3, 5)
    assert [r["name"] for r in body["records"]] == ["C0"]
    assert api_client.get(LIST, {"perPage": 2, "page": 9}).json()["records"] == []
    bad = api_client.get(LIST, {"status": "sleeping"})
    assert bad.status_code == 400 and bad.json()["field"] == "status" and bad.json()["status"] == "fail"
    assert "status" in bad.json()["error"]
    too_many = api_client.get(LIST, {"perPage": 101})
    assert (too_many.status_code, too_many.json()["field"]) == (400, "perPage")


def test_list_runs_a_constant_number_of_queries(api_client, marketer, django_assert_max_num_queries):
    for n in range(3):
        campaign_past(name=f"P{n}", user=marketer, members=1)
    with django_assert_max_num_queries(6) as few:
        api_client.get(LIST, {"perPage": 100})
    for n in range(20):
        campaign_live(name=f"L{n}", user=marketer)
        CampaignFactory(name=f"Coupon {n}", reward_type=Campaign.RewardType.COUPON)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api_client.get(LIST, {"perPage": 100}).json()
    assert body["totalRecords"] == 43


def test_detail_gives_summary_progress_and_stats(api_client, marketer):
    campaign = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    CampaignRun.objects.filter(campaign=campaign).update(status="running", total=200, processed=50, granted=2)
    a, b, c = ProfileFactory(identity="a"), ProfileFactory(identity="b"), ProfileFactory(identity="c")
    Grant.objects.create(campaign=campaign, profile=a, occurrence="run:1", granted=True, points=100)
    Grant.objects.create(campaign=campaign, profile=b, occurrence="run:1", granted=True, points=100)
    Grant.objects.create(
        campaign=campaign, profile=c, occurrence="run:1", granted=False, reason=Grant.Reason.USER_BUDGET
    )
    response = api_client.get(f"{LIST}/{campaign.pk}")
    assert response.status_code == 200
    detail = response.json()["campaign"]
    assert detail["status"] == campaign.status and detail["actions"] == services.campaign_actions(campaign)
    # The summary is the Publish section's, in words.
    with timezone.override(account_tzinfo()):
        expected = summary.campaign_summary(selectors.campaign_get(pk=campaign.pk))
    assert [s["section"] for s in detail["summary"]] == list(expected)
    assert {(r["label"], r["value"]) for s in detail["summary"] for r in s["rows"]} == {
        (label, str(value)) for rows in expected.values() for label, value in rows
    }
    assert {"label": "Name", "value": "Diwali bonus"} in detail["summary"][0]["rows"]
    assert detail["progress"]["processed"] == 50 and detail["progress"]["percent"] == 25
    assert detail["stats"] == {
        "rewardsGiven": 2,
        "profilesRewarded": 2,
        "pointsDistributed": 200,
        "codesDistributed": 0,
        "notGranted": 1,
        "heldOut": 0,
    }
    assert detail["notGrantedByReason"] == [{"reason": Grant.Reason.USER_BUDGET, "count": 1, "examples": ["c"]}]
    assert detail["budget"] == []


def test_detail_of_a_live_campaign_shows_budget_used_and_left(api_client):
    campaign = campaign_live(budget_campaign=1000, status=S.RUNNING)
    from promotions.models import CampaignCounter

    CampaignCounter.objects.update_or_create(pk=campaign.pk, defaults={"points_used": 250, "rewards": 25})
    budget = api_client.get(f"{LIST}/{campaign.pk}").json()["campaign"]["budget"]
    assert budget == [{"label": "Points budget", "used": 250, "left": 750, "limit": 1000, "percent": 25}]


def test_unknown_campaign_is_404_and_a_bad_id_400(api_client):
    response = api_client.get(f"{LIST}/999999")
    assert response.status_code == 404
    assert response.json() == {"status": "fail", "code": 404, "error": "No campaign has id 999999.", "field": "id"}
    assert api_client.get(f"{LIST}/abc").status_code == 400
    assert api_client.get(f"{LIST}/{2**70}").status_code == 400
    assert api_client.post(f"{LIST}/999999/pause").status_code == 404


def test_pause_resume_stop_follow_the_button_rules_and_name_the_key(client):
    key, auth = _auth(["campaigns:write"])
    campaign = campaign_live(status=S.RUNNING)
    response = client.post(f"{LIST}/{campaign.pk}/pause", **auth)
    assert response.status_code == 200
    assert response.json()["campaign"]["status"] == "paused"
    campaign.refresh_from_db()
    assert campaign.status == S.PAUSED
    event = CampaignEvent.objects.get(campaign=campaign, action="paused")
    assert (event.api_key_id, event.actor_id) == (key.pk, None)

    again = client.post(f"{LIST}/{campaign.pk}/pause", **auth)
    assert again.status_code == 409
    assert again.json() == {
        "status": "fail",
        "code": 409,
        "error": "You cannot pause a campaign that is Paused.",
        "reason": "pause_not_allowed",
        "campaignStatus": "paused",
    }
    assert client.post(f"{LIST}/{campaign.pk}/resume", **auth).json()["campaign"]["status"] == "running"
    stopped = client.post(f"{LIST}/{campaign.pk}/stop", **auth)
    assert stopped.status_code == 200 and stopped.json()["campaign"]["status"] == "stopped"
    campaign.refresh_from_db()
    assert campaign.end_reason == f"Stopped through the API (key “{key.name}”)"
    assert client.post(f"{LIST}/{campaign.pk}/resume", **auth).status_code == 409
    assert list(CampaignEvent.objects.filter(campaign=campaign).values_list("action", "api_key_id")) == [
        ("stopped", key.pk),
        ("resumed", key.pk),
        ("paused", key.pk),
    ]


def test_a_draft_cannot_be_paused_by_api(api_client):
    campaign = campaign_past(status=S.DRAFT)
    response = api_client.post(f"{LIST}/{campaign.pk}/pause")
    assert response.status_code == 409
    assert response.json()["error"] == "You cannot pause a campaign that is Draft."
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT
    assert not CampaignEvent.objects.filter(campaign=campaign).exists()


def test_the_campaign_page_history_names_the_api_key(client, marketer_client):
    key, auth = _auth(["campaigns:write"])
    campaign = campaign_live(status=S.RUNNING)
    client.post(f"{LIST}/{campaign.pk}/pause", **auth)
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f"API key “{key.name}”" in html


def test_campaign_endpoints_need_their_scopes(client):
    campaign = campaign_live(status=S.RUNNING)
    _, read_only = _auth(["campaigns:read"])
    assert client.get(LIST, **read_only).status_code == 200
    refused = client.post(f"{LIST}/{campaign.pk}/stop", **read_only)
    assert refused.status_code == 403
    assert refused.json()["scope"] == "campaigns:write"
    campaign.refresh_from_db()
    assert campaign.status == S.RUNNING
    _, write_only = _auth(["campaigns:write"])
    assert client.get(f"{LIST}/{campaign.pk}", **write_only).status_code == 403


def test_profile_outcome_says_why_a_profile_was_or_was_not_rewarded(api_client):
    campaign = campaign_live(status=S.RUNNING)
    rewarded, refused = ProfileFactory(identity="amy@example.com"), ProfileFactory(identity="a/b")
    ProfileFactory(identity="idle")
    Grant.objects.create(campaign=campaign, profile=rewarded, occurrence="event:1", granted=True, points=10)
    Grant.objects.create(
        campaign=campaign, profile=refused, occurrence="event:2", granted=False, reason=Grant.Reason.USER_BUDGET
    )
    url = f"{LIST}/{campaign.pk}/profiles/"
    body = api_client.get(url + "amy@example.com").json()
    assert (body["rewarded"], body["explanation"]) == (True, "Rewarded once.")
    assert [(g["occurrence"], g["granted"], g["points"], g["reason"]) for g in body["grants"]] == [
        ("event:1", True, 10, None)
    ]
    body = api_client.get(url + "a/b").json()
    assert (body["identity"], body["rewarded"]) == ("a/b", False)
    assert body["explanation"] == "Not rewarded: User points budget exceeded."
    body = api_client.get(url + "idle").json()
    assert (body["rewarded"], body["grants"]) == (False, [])
    assert body["explanation"].startswith("Not rewarded: no reward was attempted")
    missing = api_client.get(url + "ghost")
    assert (missing.status_code, missing.json()["error"]) == (404, "No profile has identity “ghost”.")
