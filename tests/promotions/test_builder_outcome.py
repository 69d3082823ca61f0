"""The builder's outcome fields (issue #19): holdout and conversion goal in the What section."""

import pytest

from promotions.models import Campaign
from promotions.rules.filters import MSG_FILTER_NOT_OF_EVENT
from promotions.rules.what import MSG_GOAL_FILTER_ROW, MSG_GOAL_WINDOW
from tests.promotions.factories import CampaignFactory, WalletFactory, event_definition
from tests.promotions.helpers import post_section

pytestmark = pytest.mark.django_db


def _at_what():
    event_definition("Charged", Amount="number", Mode="string")
    event_definition("App Launched")
    return CampaignFactory(
        qualification=Campaign.Qualification.PAST_BEHAVIOR,
        audience_source=Campaign.AudienceSource.RULES,
        rules={"op": "and", "rules": []},
        who_complete=True,
    )


def _points(wallet):
    return {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "100"}


def test_goal_details_appear_once_a_goal_event_is_chosen(marketer_client):
    campaign = _at_what()
    wallet = WalletFactory()
    html = post_section(marketer_client, campaign, "what", _points(wallet), refresh=True).content.decode()
    assert 'name="holdout_percent"' in html and 'name="goal_event"' in html
    assert 'name="goal_window_value"' not in html
    data = {**_points(wallet), "goal_event": "Charged"}
    html = post_section(marketer_client, campaign, "what", data, refresh=True).content.decode()
    assert 'name="goal_window_value"' in html
    assert '<option value="Amount">Amount</option>' in html  # numeric properties to sum


def test_goal_filter_rows_are_added_without_saving(marketer_client):
    campaign = _at_what()
    data = {**_points(WalletFactory()), "goal_event": "Charged", "goal_filter_count": "0"}
    html = post_section(
        marketer_client, campaign, "what", {**data, "_refresh": "add_goal_filter"}, refresh=False
    ).content.decode()
    assert 'id="goal-filter-0"' in html
    campaign.refresh_from_db()
    assert not campaign.what_complete


def test_what_saves_goal_holdout_and_filters(marketer_client):
    campaign = _at_what()
    data = {
        **_points(WalletFactory()),
        "holdout_percent": "10",
        "goal_event": "Charged",
        "goal_window_value": "7",
        "goal_window_unit": "days",
        "goal_value_property": "Amount",
        "goal_filter_count": "1",
        "gf_0_property": "Mode",
        "gf_0_operator": "equals",
        "gf_0_value": "card",
    }
    post_section(marketer_client, campaign, "what", data)
    campaign.refresh_from_db()
    assert campaign.what_complete
    assert (campaign.holdout_percent, campaign.goal_event, campaign.goal_window_value) == (10, "Charged", 7)
    assert campaign.goal_value_property == "Amount"
    assert campaign.goal_filters == [
        {"property": "Mode", "operator": "equals", "value": "card", "value_type": "string"}
    ]
    # Opening the section again draws the saved filter row.
    html = marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=what").content.decode()
    assert 'name="gf_0_value"' in html and 'value="card"' in html
    assert "Holdout" in html or "holdout" in html


def test_holdout_out_of_range_and_goal_without_window_are_refused(marketer_client):
    campaign = _at_what()
    data = {**_points(WalletFactory()), "holdout_percent": "60", "goal_event": "Charged", "goal_window_value": ""}
    html = post_section(marketer_client, campaign, "what", data).content.decode()
    assert "The holdout must be at most 50." in html
    assert MSG_GOAL_WINDOW in html or "This field is required." in html
    campaign.refresh_from_db()
    assert not campaign.what_complete and campaign.holdout_percent is None


def test_goal_filter_on_a_property_of_another_event_is_refused(marketer_client):
    campaign = _at_what()
    data = {
        **_points(WalletFactory()),
        "goal_event": "App Launched",
        "goal_window_value": "2",
        "goal_window_unit": "hours",
        "goal_filter_count": "1",
        "gf_0_property": "Mode",
        "gf_0_operator": "equals",
        "gf_0_value": "card",
    }
    html = post_section(marketer_client, campaign, "what", data).content.decode()
    message = MSG_FILTER_NOT_OF_EVENT.format(property="Mode", event="App Launched")
    assert MSG_GOAL_FILTER_ROW.format(row=1, message=message) in html


def test_no_goal_keeps_the_campaign_as_before(marketer_client):
    campaign = _at_what()
    post_section(marketer_client, campaign, "what", _points(WalletFactory()))
    campaign.refresh_from_db()
    assert campaign.what_complete
    assert (campaign.holdout_percent, campaign.goal_event, campaign.goal_filters) == (None, "", [])
