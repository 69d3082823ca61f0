"""The builder (SPEC 4): five sections in order, each an HTMX partial that validates and saves the draft."""

import json

import pytest

from coupons.models import Coupon
from promotions import catalogue
from promotions.models import Campaign, CampaignEvent
from promotions.rules.errors import MSG_FUTURE, MSG_NOT_OFFERED
from promotions.rules.filters import MSG_FILTER_NOT_OF_EVENT
from promotions.rules.what import MSG_DUPLICATE_KEY, MSG_RANDOM_ORDER
from promotions.rules.when import MSG_START_PAST, MSG_WEEKDAYS
from promotions.rules.who import MSG_CONSTANT_PROPERTY, MSG_FILTER_ROW, MSG_RULES_JSON, MSG_SAME_EVENTS
from promotions.services import MSG_SECTION_ORDER
from segments.rules import validate_rules
from tests.promotions.factories import (
    CampaignFactory,
    CouponFactory,
    SegmentFactory,
    VoucherListFactory,
    WalletFactory,
    custom_list_with,
    event_definition,
)
from tests.promotions.helpers import HTMX, KOLKATA, in_future, local_input, post_section
from tests.vouchers.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def not_offered(label: str) -> str:
    """The message naming the field whose choice is not one the screen offers (issue #16)."""
    return MSG_NOT_OFFERED.format(label=label)


def _html(response) -> str:
    return response.content.decode()


def _draft(**overrides) -> Campaign:
    values = {"qualification": Campaign.Qualification.PAST_BEHAVIOR}
    values.update(overrides)
    return CampaignFactory(**values)


# Start here ---------------------------------------------------------------------------------


def test_new_builder_opens_start_with_later_sections_locked_and_publish_disabled(marketer_client):
    html = _html(marketer_client.get("/campaigns/new/"))
    assert 'id="section-start" class="section open"' in html
    for section in ("who", "what", "when"):
        assert f'id="section-{section}" class="section locked"' in html
    assert 'id="publish-button" disabled' in html
    assert "Past behavior / Custom list" in html and "Live behavior" in html
    assert "User inaction within a time frame" not in html  # the live choice is not made yet


def test_start_shows_live_kinds_once_live_is_chosen(marketer_client):
    response = marketer_client.post("/campaigns/new/start/?refresh=1", {"name": "X", "behavior": "live"}, **HTMX)
    html = _html(response)
    assert 'id="section-start"' in html and "<html" not in html
    assert "User actions" in html and "User inaction within a time frame" in html
    assert Campaign.objects.count() == 0  # a refresh never saves


def test_start_requires_a_name_partial_for_htmx(marketer_client):
    response = marketer_client.post("/campaigns/new/start/", {"name": "", "behavior": "past"}, **HTMX)
    html = _html(response)
    assert response.status_code == 422
    assert 'id="section-start"' in html and "<html" not in html
    assert "Enter the campaign name." in html  # the message names the field (issue #16)
    assert Campaign.objects.count() == 0


def test_start_error_renders_the_full_page_without_htmx(marketer_client):
    response = marketer_client.post("/campaigns/new/start/", {"name": "", "behavior": "past"})
    assert response.status_code == 422
    assert "<html" in _html(response) and "Enter the campaign name." in _html(response)


def test_start_requires_the_live_kind_for_live(marketer_client):
    response = marketer_client.post("/campaigns/new/start/", {"name": "Live", "behavior": "live"}, **HTMX)
    assert "Choose the live behavior." in _html(response)
    assert Campaign.objects.count() == 0


def test_start_saves_a_draft_and_opens_who(marketer_client, marketer):
    response = marketer_client.post(
        "/campaigns/new/start/", {"name": "Welcome", "description": "New users", "behavior": "past"}, **HTMX
    )
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT and campaign.start_complete
    assert campaign.created_by == marketer and campaign.qualification == Campaign.Qualification.PAST_BEHAVIOR
    html = _html(response)
    assert response["HX-Retarget"] == "#builder"
    assert response["HX-Push-Url"] == f"/campaigns/{campaign.pk}/edit/"
    assert 'id="builder"' in html and "<html" not in html
    assert 'id="section-start" class="section complete"' in html and "✓" in html
    assert 'id="section-who" class="section open"' in html
    assert CampaignEvent.objects.filter(campaign=campaign, action="created").exists()


def test_start_without_htmx_redirects_to_the_builder(marketer_client):
    response = marketer_client.post("/campaigns/new/start/", {"name": "Welcome", "behavior": "past"})
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/edit/"


def test_live_inaction_start(marketer_client):
    marketer_client.post("/campaigns/new/start/", {"name": "Cart", "behavior": "live", "live_kind": "inaction"})
    assert Campaign.objects.get().qualification == Campaign.Qualification.LIVE_INACTION


def test_changing_qualification_reopens_later_sections(marketer_client):
    event_definition("Charged", Amount="number")
    campaign = CampaignFactory(
        qualification=Campaign.Qualification.LIVE_ACTION,
        triggers=[{"event": "Charged", "filters": []}],
        who_complete=True,
    )
    post_section(marketer_client, campaign, "start", {"name": "Now past", "behavior": "past"})
    campaign.refresh_from_db()
    assert campaign.qualification == Campaign.Qualification.PAST_BEHAVIOR
    assert campaign.start_complete and not campaign.who_complete


# Who ---------------------------------------------------------------------------------------


def test_who_past_offers_segment_rules_or_custom_list(marketer_client):
    campaign = _draft()
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/"))
    assert 'id="section-who" class="section open"' in html
    for label in ("A saved segment", "Rules built here", "A custom list"):
        assert label in html
    assert 'name="segment"' not in html and 'name="rules"' not in html


def test_who_shows_the_rules_region_for_inline_rules(marketer_client):
    campaign = _draft()
    html = _html(post_section(marketer_client, campaign, "who", {"audience_source": "rules"}, refresh=True))
    assert 'id="who-rules"' in html and 'name="rules"' in html
    assert 'name="segment"' not in html


def test_who_rules_must_be_a_json_object(marketer_client):
    campaign = _draft()
    html = _html(post_section(marketer_client, campaign, "who", {"audience_source": "rules", "rules": "[1, 2"}))
    assert MSG_RULES_JSON in html
    campaign.refresh_from_db()
    assert not campaign.who_complete


def test_who_saves_inline_rules(marketer_client):
    campaign = _draft()
    rules = {"op": "and", "rules": [{"type": "did", "event": "Charged"}]}
    post_section(marketer_client, campaign, "who", {"audience_source": "rules", "rules": json.dumps(rules)})
    campaign.refresh_from_db()
    assert campaign.who_complete and campaign.segment is None
    assert campaign.rules == validate_rules(rules)  # stored normalised


def test_who_custom_list_shows_estimate_and_sets_type(marketer_client):
    campaign = _draft()
    custom_list = custom_list_with(4)
    data = {"audience_source": "custom_list", "custom_list": custom_list.pk}
    html = _html(post_section(marketer_client, campaign, "who", data, refresh=True))
    assert "Estimated audience: <strong>≈ 4</strong>" in html
    post_section(marketer_client, campaign, "who", data)
    campaign.refresh_from_db()
    assert campaign.qualification == Campaign.Qualification.CUSTOM_LIST and campaign.custom_list == custom_list


def test_who_segment_saves_and_clears_other_sources(marketer_client):
    campaign = _draft(rules={"op": "and", "rules": []})
    segment = SegmentFactory(audience_size=1200)
    post_section(marketer_client, campaign, "who", {"audience_source": "segment", "segment": segment.pk, "rules": "{}"})
    campaign.refresh_from_db()
    assert campaign.segment == segment and campaign.rules == {} and campaign.who_complete


def test_who_unknown_segment_is_refused(marketer_client):
    campaign = _draft()
    html = _html(post_section(marketer_client, campaign, "who", {"audience_source": "segment", "segment": 99999}))
    assert not_offered("the saved segment") in html


def _filter_row(i, j, prop, operator, value="", value2=""):
    return {
        f"tf_{i}_{j}_property": prop,
        f"tf_{i}_{j}_operator": operator,
        f"tf_{i}_{j}_value": value,
        f"tf_{i}_{j}_value2": value2,
    }


def test_who_live_triggers_come_from_the_event_catalogue(marketer_client):
    event_definition("Charged", Amount="number", City="string")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION)
    html = _html(post_section(marketer_client, campaign, "who", {"trigger_count": 1, "trigger_event_0": "Hacked"}))
    assert not_offered("trigger event 1") in html
    data = {"trigger_count": 1, "trigger_event_0": "Charged", "trigger_filter_count_0": 2}
    data |= _filter_row(0, 0, "Amount", "greater_than", "500") | _filter_row(0, 1, "City", "contains", "Pune")
    post_section(marketer_client, campaign, "who", data)
    campaign.refresh_from_db()
    # Stored in the shape promotions/engine/live.py reads (segments.rules.validate_filters, typed from the catalogue).
    assert campaign.triggers == [
        {
            "event": "Charged",
            "filters": [
                {"property": "Amount", "operator": "greater_than", "value_type": "number", "value": 500},
                {"property": "City", "operator": "contains", "value_type": "string", "value": "Pune"},
            ],
        }
    ]
    assert campaign.who_complete


def test_who_live_saved_filters_are_drawn_as_rows_not_json(marketer_client):
    event_definition("Charged", Amount="number")
    filters = [{"property": "Amount", "operator": "between", "value_type": "number", "value": 10, "value2": 20}]
    campaign = _draft(
        qualification=Campaign.Qualification.LIVE_ACTION, triggers=[{"event": "Charged", "filters": filters}]
    )
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=who"))
    assert 'name="tf_0_0_property"' in html and '<option value="Amount" selected>' in html
    assert '<option value="between" selected>between</option>' in html
    assert 'id="id_tf_0_0_value" value="10"' in html and 'id="id_tf_0_0_value2" value="20"' in html
    assert "trigger_filters_0" not in html or 'type="hidden" name="trigger_filters_0"' in html
    assert "<textarea" not in html.split('id="who-past-filter"')[0].split('id="section-who"')[1]


@pytest.mark.parametrize(
    "row, message",
    [
        (("", "equals", "x"), "Trigger event 1, filter 2: Choose a property."),
        (("Amount", "greater_than", "lots"), "Trigger event 1, filter 2: Amount: 'lots' is not a number."),
        (("Amount", "contains", "5"), 'Trigger event 1, filter 2: Amount: "contains" does not apply to a number.'),
        (("Amount", "between", "9", "3"), "Trigger event 1, filter 2: Amount: the first value of between must not be"),
        (("Amount", "roughly", "5"), 'Trigger event 1, filter 2: "roughly" is not an operator'),
        (("City", "equals", ""), "Trigger event 1, filter 2: City: enter a value."),
    ],
)
def test_who_live_each_bad_filter_row_gets_its_own_message(marketer_client, row, message):
    event_definition("Charged", Amount="number", City="string")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION, who_complete=False)
    data = {"trigger_count": 1, "trigger_event_0": "Charged", "trigger_filter_count_0": 2}
    data |= _filter_row(0, 0, "Amount", "equals", "5") | _filter_row(0, 1, *row)
    html = _html(post_section(marketer_client, campaign, "who", data))
    assert message.replace('"', "&quot;").replace("'", "&#x27;") in html
    assert "filter 1:" not in html  # the good row has no message
    campaign.refresh_from_db()
    assert campaign.triggers == [] and not campaign.who_complete  # nothing half-applied


def test_who_live_filter_property_must_belong_to_the_trigger_event(marketer_client):
    event_definition("Charged", Amount="number")
    event_definition("App Launched", Version="string")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION)
    data = {"trigger_count": 1, "trigger_event_0": "App Launched", "trigger_filter_count_0": 1}
    data |= _filter_row(0, 0, "Amount", "equals", "5")
    html = _html(post_section(marketer_client, campaign, "who", data))
    expected = MSG_FILTER_ROW.format(
        trigger=1, row=1, message=MSG_FILTER_NOT_OF_EVENT.format(property="Amount", event="App Launched")
    )
    assert expected in html


def test_who_live_filter_rows_are_added_and_removed_through_htmx_without_saving(marketer_client):
    event_definition("Charged", Amount="number", City="string")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION, who_complete=False)
    url = f"/campaigns/{campaign.pk}/edit/who/"
    base = {"trigger_count": 1, "trigger_event_0": "Charged", "trigger_filter_count_0": 0}
    html = _html(marketer_client.post(url + "?refresh=add_filter_0", base, **HTMX))
    assert 'id="section-who"' in html and "<html" not in html
    assert 'name="tf_0_0_property"' in html and 'name="tf_0_1_property"' not in html
    # the property list is that event's catalogue
    assert '<option value="Amount">Amount</option>' in html and '<option value="City">City</option>' in html
    two = base | {"trigger_filter_count_0": 2}
    two |= _filter_row(0, 0, "Amount", "equals", "5") | _filter_row(0, 1, "City", "equals", "Pune")
    html = _html(marketer_client.post(url + "?refresh=remove_filter_0_0", two, **HTMX))
    assert 'name="tf_0_1_property"' not in html
    assert '<option value="City" selected>' in html and 'value="Pune"' in html  # the second row moved up
    assert 'name="trigger_filter_count_0" value="1"' in html
    campaign.refresh_from_db()
    assert campaign.triggers == [] and not campaign.who_complete


def test_who_live_operator_list_follows_the_property_type(marketer_client):
    event_definition("Charged", Amount="number", City="string")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION)
    url = f"/campaigns/{campaign.pk}/edit/who/?refresh=1"
    data = {"trigger_count": 1, "trigger_event_0": "Charged", "trigger_filter_count_0": 1}
    html = _html(marketer_client.post(url, data | _filter_row(0, 0, "City", "equals", "x"), **HTMX))
    assert '<option value="contains">contains</option>' in html and "greater than" not in html
    html = _html(marketer_client.post(url, data | _filter_row(0, 0, "Amount", "contains", "x"), **HTMX))
    assert '<option value="greater_than">greater than</option>' in html and ">contains<" not in html


def test_who_live_past_filter_uses_the_visual_rule_builder_and_is_validated(marketer_client):
    event_definition("Charged", Amount="number")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION)
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=who"))
    assert 'id="rule-builder"' in html and "+ Add rule" in html
    assert 'name="rb.rules.0.type"' not in html  # optional: it starts without a blank rule
    assert 'name="rb_optional" value="1"' in html
    empty = {"rules": json.dumps({"op": "and", "rules": []}), "rb_live": "1"}
    estimate = _html(marketer_client.post("/audience/rules/estimate/", empty | {"rb_optional": "1"}, **HTMX))
    assert "Add at least one rule." not in estimate and "Estimated audience" not in estimate
    assert "Add at least one rule." in _html(marketer_client.post("/audience/rules/estimate/", empty, **HTMX))
    rebuilt = {"rules": empty["rules"], "rb.op": "and", "rb_optional": "1", "rb_action": "add"}
    html = _html(marketer_client.post("/audience/rules/builder/", rebuilt, **HTMX))
    assert 'name="rb.rules.0.type"' in html and 'name="rb_optional" value="1"' in html  # stays optional
    data = {"trigger_count": 1, "trigger_event_0": "Charged"}
    empty = json.dumps({"op": "and", "rules": []})
    post_section(marketer_client, campaign, "who", data | {"rules": empty})
    campaign.refresh_from_db()
    assert campaign.past_filter == {} and campaign.who_complete  # no rule: no filter
    bad = {"op": "and", "rules": [{"type": "did", "event": "Charged", "window": {"type": "last", "amount": "x"}}]}
    html = _html(post_section(marketer_client, campaign, "who", data | {"rules": json.dumps(bad)}))
    assert "Rule 1:" in html
    good = {"op": "and", "rules": [{"type": "did", "event": "Charged", "window": {"type": "ever"}}]}
    post_section(marketer_client, campaign, "who", data | {"rules": json.dumps(good)})
    campaign.refresh_from_db()
    assert campaign.past_filter == validate_rules(good)
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=who"))
    assert '<option value="Charged" selected>Charged</option>' in html.split('id="who-past-filter"')[1]


def test_who_live_adds_trigger_rows_up_to_ten(marketer_client):
    event_definition("Charged")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_ACTION)
    url = f"/campaigns/{campaign.pk}/edit/who/?refresh=add_trigger"
    html = _html(marketer_client.post(url, {"trigger_count": 1}, **HTMX))
    assert 'name="trigger_event_1"' in html
    html = _html(marketer_client.post(url, {"trigger_count": 10}, **HTMX))
    assert 'name="trigger_event_9"' in html and 'name="trigger_event_10"' not in html
    assert "Add trigger event" not in html


def test_who_inaction_needs_two_different_events(marketer_client):
    event_definition("Added To Cart", **{"Product ID": "string"})
    event_definition("Charged", **{"Product ID": "string"})
    campaign = _draft(qualification=Campaign.Qualification.LIVE_INACTION)
    data = {
        "inaction_event_a": "Added To Cart",
        "inaction_event_b": "Added To Cart",
        "inaction_window_value": 10,
        "inaction_window_unit": "minutes",
    }
    assert MSG_SAME_EVENTS in _html(post_section(marketer_client, campaign, "who", data))
    data.update(inaction_event_b="Charged", constant_property="Product ID")
    post_section(marketer_client, campaign, "who", data)
    campaign.refresh_from_db()
    assert (campaign.inaction_event_a, campaign.inaction_event_b, campaign.inaction_window_value) == (
        "Added To Cart",
        "Charged",
        10,
    )
    assert campaign.constant_property == "Product ID" and campaign.who_complete


def test_sections_must_be_completed_in_order(marketer_client):
    campaign = _draft()
    wallet = WalletFactory()
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "10"}
    response = post_section(marketer_client, campaign, "what", data)
    assert response.status_code == 409  # the campaign's state refuses the save; the section shows why
    assert MSG_SECTION_ORDER.format(section="Who") in _html(response)
    campaign.refresh_from_db()
    assert not campaign.what_complete and campaign.reward_type == ""


# What --------------------------------------------------------------------------------------


def _past_at_what(**overrides):
    values = {"custom_list": custom_list_with(2), "audience_source": "custom_list", "who_complete": True}
    values.update(overrides)
    return _draft(qualification=Campaign.Qualification.CUSTOM_LIST, **values)


def _live_at_what(triggers=("Charged",), **overrides):
    event_definition("Charged", Amount="number", **{"Payment Mode": "string"})
    event_definition("App Launched")
    values = {
        "qualification": Campaign.Qualification.LIVE_ACTION,
        "triggers": [{"event": t, "filters": []} for t in triggers],
        "who_complete": True,
    }
    values.update(overrides)
    return CampaignFactory(**values)


def test_what_points_types_for_past_behaviour_are_flat_and_random(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    html = _html(
        post_section(marketer_client, campaign, "what", {"reward_type": "points", "wallet": wallet.pk}, refresh=True)
    )
    assert 'value="flat"' in html and 'value="random"' in html
    assert 'value="percentage"' not in html and 'value="proportional"' not in html


def test_what_percentage_offered_for_single_trigger_with_numeric_property(marketer_client):
    campaign = _live_at_what()
    data = {"reward_type": "points", "points_type": "percentage"}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'value="percentage"' in html and 'value="proportional"' in html
    assert '<option value="Amount">Amount</option>' in html and "Payment Mode</option>" not in html
    assert 'name="max_points_per_reward"' in html


@pytest.mark.parametrize(
    "kind",
    ["two_triggers", "no_numeric_property", "inaction"],
)
def test_what_percentage_not_offered_otherwise(marketer_client, kind):
    if kind == "two_triggers":
        campaign = _live_at_what(triggers=("Charged", "App Launched"))
    elif kind == "no_numeric_property":
        campaign = _live_at_what(triggers=("App Launched",))
    else:
        event_definition("Charged", Amount="number")
        campaign = CampaignFactory(
            qualification=Campaign.Qualification.LIVE_INACTION,
            inaction_event_a="Charged",
            inaction_event_b="App Launched",
            who_complete=True,
        )
    html = _html(post_section(marketer_client, campaign, "what", {"reward_type": "points"}, refresh=True))
    assert 'value="percentage"' not in html and 'value="proportional"' not in html


def test_crafted_percentage_post_on_past_campaign_is_refused(marketer_client):
    campaign = _past_at_what()
    event_definition("Charged", Amount="number")
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "percentage",
        "points_property": "Amount",
        "percentage": "5",
    }
    html = _html(post_section(marketer_client, campaign, "what", data))
    assert not_offered("the points type") in html
    campaign.refresh_from_db()
    assert campaign.points_type == "" and campaign.percentage is None and not campaign.what_complete


def test_what_saves_percentage_for_live_action(marketer_client):
    campaign = _live_at_what()
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "percentage",
        "points_property": "Amount",
        "percentage": "5",
        "max_points_per_reward": "500",
        "budget_campaign": "5000",
        "budget_per_user": "500",
        "max_per_user_total": "5",
        "max_per_user_day": "2",
    }
    post_section(marketer_client, campaign, "what", data)
    campaign.refresh_from_db()
    assert campaign.what_complete and campaign.points_type == "percentage"
    assert (campaign.percentage, campaign.max_points_per_reward) == (5, 500)
    assert (campaign.budget_campaign, campaign.budget_per_user) == (5000, 500)
    assert (campaign.max_per_user_total, campaign.max_per_user_day) == (5, 2)


def test_per_user_budget_not_offered_for_flat(marketer_client):
    campaign = _live_at_what()
    wallet = WalletFactory()
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "10"}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'name="budget_campaign"' in html and 'name="budget_per_user"' not in html
    post_section(marketer_client, campaign, "what", {**data, "budget_campaign": "1000", "budget_per_user": "50"})
    campaign.refresh_from_db()
    assert campaign.budget_campaign == 1000 and campaign.budget_per_user is None


def test_budget_and_recurrence_only_for_live(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "random"}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'name="budget_campaign"' not in html and 'name="max_per_user_total"' not in html
    crafted = {
        **data,
        "random_min": "10",
        "random_max": "100",
        "random_favor": "avg",
        "budget_campaign": "1",
        "budget_per_user": "1",
        "max_per_user_total": "1",
    }
    post_section(marketer_client, campaign, "what", crafted)
    campaign.refresh_from_db()
    assert campaign.what_complete
    assert campaign.budget_campaign is None and campaign.budget_per_user is None and campaign.max_per_user_total is None


def test_random_shows_expected_points_and_cost(marketer_client):
    campaign = _past_at_what()  # custom list of 2 profiles
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "random",
        "random_min": "10",
        "random_max": "100",
        "random_favor": "avg",
    }
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert "Expected points per reward: <strong>55</strong>" in html
    assert "Expected cost for the estimated audience (≈ 2 profiles): <strong>110</strong> points" in html


def test_random_expected_against_budget_for_live(marketer_client):
    campaign = _live_at_what()
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "random",
        "random_min": "1",
        "random_max": "3",
        "random_favor": "max",
        "budget_campaign": "700",
    }
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    # Favor Max over 1..3: weights 1, 2, 3 → mean 14/6 = 2.333
    assert "Expected points per reward: <strong>2.333</strong>" in html
    assert "covers about <strong>300</strong> rewards" in html


def test_random_min_must_not_exceed_max(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "random",
        "random_min": "50",
        "random_max": "10",
        "random_favor": "min",
    }
    assert MSG_RANDOM_ORDER in _html(post_section(marketer_client, campaign, "what", data))


def test_inactive_wallet_is_refused(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory(is_active=False)
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "5"}
    assert not_offered("the wallet") in _html(post_section(marketer_client, campaign, "what", data))


def test_flat_points_must_be_positive(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "0"}
    assert "The points must be more than 0." in _html(post_section(marketer_client, campaign, "what", data))


def test_custom_lifecycle_fields_follow_the_choices(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "flat_points": "5"}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'name="activation"' not in html
    data.update(custom_lifecycle="on", activation="custom", expiry="custom")
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'name="activation_value"' in html and 'name="expiry_days"' in html and 'name="expiry_at"' not in html
    data.update(activation_value="3", activation_unit="days", expiry_days="30")
    post_section(marketer_client, campaign, "what", data)
    campaign.refresh_from_db()
    assert campaign.custom_lifecycle and (campaign.activation_value, campaign.expiry_days) == (3, 30)


def test_lifecycle_expiry_date_must_be_in_the_future(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "flat",
        "flat_points": "5",
        "custom_lifecycle": "on",
        "activation": "immediate",
        "expiry": "on_date",
        "expiry_at": local_input(in_future(days=-1)),
    }
    assert MSG_FUTURE in _html(post_section(marketer_client, campaign, "what", data))


def test_metadata_refuses_duplicate_keys(marketer_client):
    campaign = _past_at_what()
    wallet = WalletFactory()
    data = {
        "reward_type": "points",
        "wallet": wallet.pk,
        "points_type": "flat",
        "flat_points": "5",
        "metadata_count": "2",
        "metadata_key_0": "channel",
        "metadata_value_0": "app",
        "metadata_key_1": "channel",
        "metadata_value_1": "web",
    }
    assert MSG_DUPLICATE_KEY.format(key="channel") in _html(post_section(marketer_client, campaign, "what", data))
    data["metadata_key_1"] = "source"
    post_section(marketer_client, campaign, "what", data)
    campaign.refresh_from_db()
    assert campaign.metadata == {"channel": "app", "source": "web"}


def test_coupon_dropdown_lists_available_coupons_of_the_chosen_type(marketer_client):
    campaign = _past_at_what()
    bulk = CouponFactory(name="DIWALI", kind=Coupon.Kind.BULK)
    CouponFactory(name="WELCOME", kind=Coupon.Kind.SINGLE, code="WELCOME100")
    CouponFactory(name="PAUSED-BULK", kind=Coupon.Kind.BULK, status=Coupon.Status.PAUSED)
    html = _html(post_section(marketer_client, campaign, "what", {"reward_type": "coupon"}, refresh=True))
    assert 'name="coupon"' not in html  # the type comes first
    data = {"reward_type": "coupon", "coupon_kind": "bulk"}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert "DIWALI" in html and "WELCOME" not in html and "PAUSED-BULK" not in html
    assert 'name="max_codes_per_user"' not in html  # live only
    post_section(marketer_client, campaign, "what", {**data, "coupon": bulk.pk, "redemption_activation": "immediate"})
    campaign.refresh_from_db()
    assert campaign.coupon == bulk and campaign.what_complete


def test_crafted_coupon_of_other_type_or_unavailable_is_refused(marketer_client):
    campaign = _past_at_what()
    single = CouponFactory(kind=Coupon.Kind.SINGLE, code="X1")
    paused = CouponFactory(kind=Coupon.Kind.BULK, status=Coupon.Status.PAUSED)
    for coupon in (single, paused):
        data = {
            "reward_type": "coupon",
            "coupon_kind": "bulk",
            "coupon": coupon.pk,
            "redemption_activation": "immediate",
        }
        assert not_offered("the coupon") in _html(post_section(marketer_client, campaign, "what", data))
    campaign.refresh_from_db()
    assert campaign.coupon is None


def test_coupon_redemption_delay_and_live_limits(marketer_client):
    campaign = _live_at_what()
    coupon = CouponFactory(kind=Coupon.Kind.SINGLE, code="WELCOME100")
    data = {
        "reward_type": "coupon",
        "coupon_kind": "single",
        "coupon": coupon.pk,
        "redemption_activation": "custom",
        "redemption_delay_value": "2",
        "redemption_delay_unit": "days",
        "max_codes_per_user": "1",
        "max_codes_per_campaign": "100",
    }
    post_section(marketer_client, campaign, "what", data)
    campaign.refresh_from_db()
    assert campaign.what_complete and campaign.redemption_delay_value == 2
    assert (campaign.max_codes_per_user, campaign.max_codes_per_campaign) == (1, 100)


def test_snippet_dropdown_lists_that_partners_usable_lists(marketer_client):
    campaign = _past_at_what()
    shop = PartnerFactory(name="ShopCo")
    other = PartnerFactory(name="Other")
    usable = VoucherListFactory(partner=shop, name="Ten off")
    VoucherListFactory(partner=shop, name="Old list", expires_on="2020-01-01")
    VoucherListFactory(partner=shop, name="Paused list", status="paused")
    foreign = VoucherListFactory(partner=other, name="Other list")
    PartnerFactory(name="Dormant", is_active=False)
    html = _html(post_section(marketer_client, campaign, "what", {"reward_type": "voucher"}, refresh=True))
    assert "ShopCo" in html and "Dormant" not in html and 'name="voucher_list"' not in html
    data = {"reward_type": "voucher", "partner": shop.pk}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert "Ten off" in html and "Old list" not in html and "Paused list" not in html and "Other list" not in html
    assert not_offered("the code snippet") in _html(
        post_section(marketer_client, campaign, "what", {**data, "voucher_list": foreign.pk})
    )
    post_section(marketer_client, campaign, "what", {**data, "voucher_list": usable.pk})
    campaign.refresh_from_db()
    assert campaign.voucher_list == usable and campaign.partner == shop


def test_inventory_alert_when_audience_exceeds_codes_left(marketer_client, monkeypatch):
    campaign = _past_at_what()
    coupon = CouponFactory(kind=Coupon.Kind.BULK, name="DIWALI")
    monkeypatch.setattr(catalogue, "audience_estimate", lambda campaign: 1200)
    monkeypatch.setattr(catalogue, "coupon_codes_left", lambda coupon: 500)
    data = {"reward_type": "coupon", "coupon_kind": "bulk", "coupon": coupon.pk}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'id="inventory-alert"' in html
    assert "The estimated audience (≈ 1,200 profiles) exceeds the codes left (500)." in html
    monkeypatch.setattr(catalogue, "coupon_codes_left", lambda coupon: 5000)
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert 'id="inventory-alert"' not in html


def test_inventory_alert_for_voucher_lists(marketer_client, monkeypatch):
    campaign = _past_at_what()
    voucher_list = VoucherListFactory()
    monkeypatch.setattr(catalogue, "audience_estimate", lambda campaign: 30)
    monkeypatch.setattr(catalogue, "voucher_codes_left", lambda voucher_list: 20)
    data = {"reward_type": "voucher", "partner": voucher_list.partner_id, "voucher_list": voucher_list.pk}
    html = _html(post_section(marketer_client, campaign, "what", data, refresh=True))
    assert "The estimated audience (≈ 30 profiles) exceeds the codes left (20)." in html


# When --------------------------------------------------------------------------------------


def _at_when(**overrides):
    values = {"what_complete": True}
    values.update(overrides)
    return _past_at_what(**values)


def test_send_now_shows_the_account_timezone(marketer_client):
    campaign = _at_when()
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/"))
    assert 'id="section-when" class="section open"' in html
    assert "Send now (GMT+05:30) Asia/Kolkata" in html


def test_schedule_for_later_must_be_in_the_future(marketer_client):
    campaign = _at_when()
    data = {"delivery": "later", "scheduled_at": local_input(in_future(hours=-1))}
    assert MSG_FUTURE in _html(post_section(marketer_client, campaign, "when", data))
    data["scheduled_at"] = local_input(in_future(days=2))
    post_section(marketer_client, campaign, "when", data)
    campaign.refresh_from_db()
    assert campaign.when_complete and campaign.starts_at == campaign.scheduled_at


def test_recurring_fields_follow_the_frequency(marketer_client):
    campaign = _at_when()
    html = _html(post_section(marketer_client, campaign, "when", {"delivery": "recurring"}, refresh=True))
    assert 'name="frequency"' in html and 'name="weekdays"' not in html and 'name="scheduled_at"' not in html
    html = _html(
        post_section(marketer_client, campaign, "when", {"delivery": "recurring", "frequency": "weekly"}, refresh=True)
    )
    assert 'name="weekdays"' in html and 'name="month_day"' not in html
    html = _html(
        post_section(marketer_client, campaign, "when", {"delivery": "recurring", "frequency": "monthly"}, refresh=True)
    )
    assert 'name="month_day"' in html


def test_recurring_weekly_needs_days_and_a_current_start(marketer_client):
    campaign = _at_when()
    data = {
        "delivery": "recurring",
        "frequency": "weekly",
        "run_time": "09:00",
        "recurrence_start": "2020-01-01",
    }
    html = _html(post_section(marketer_client, campaign, "when", data))
    assert MSG_WEEKDAYS in html and MSG_START_PAST in html


def test_recurring_saves_first_occurrence_as_start(marketer_client):
    campaign = _at_when()
    start = in_future(days=3).astimezone(KOLKATA).date()
    data = {
        "delivery": "recurring",
        "frequency": "daily",
        "run_time": "09:30",
        "recurrence_start": start.isoformat(),
        "reward_again": "on",
    }
    post_section(marketer_client, campaign, "when", data)
    campaign.refresh_from_db()
    assert campaign.when_complete and campaign.reward_again
    local = campaign.starts_at.astimezone(KOLKATA)
    assert (local.date(), local.hour, local.minute) == (start, 9, 30)


def test_live_when_start_and_end(marketer_client):
    campaign = _live_at_what(what_complete=True)
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/"))
    assert 'name="live_start"' in html and 'name="delivery"' not in html
    data = {
        "live_start": "at",
        "starts_at": local_input(in_future(days=2)),
        "live_end": "at",
        "ends_at": local_input(in_future(days=1)),
    }
    from promotions.rules.when import MSG_END_BEFORE_START

    assert MSG_END_BEFORE_START in _html(post_section(marketer_client, campaign, "when", data))
    data["ends_at"] = local_input(in_future(days=5))
    post_section(marketer_client, campaign, "when", data)
    campaign.refresh_from_db()
    assert campaign.when_complete and campaign.ends_at > campaign.starts_at


def test_crafted_delivery_for_live_campaign_is_ignored(marketer_client):
    campaign = _live_at_what(what_complete=True)
    data = {"live_start": "now", "live_end": "never", "delivery": "recurring", "frequency": "daily"}
    post_section(marketer_client, campaign, "when", data)
    campaign.refresh_from_db()
    assert campaign.when_complete and campaign.delivery == "" and campaign.frequency == ""


# Publish -----------------------------------------------------------------------------------


def test_publish_button_enabled_only_when_every_section_is_complete(marketer_client):
    campaign = _at_when()
    assert 'id="publish-button" disabled' in _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/"))
    post_section(marketer_client, campaign, "when", {"delivery": "now"})
    html = _html(marketer_client.get(f"/campaigns/{campaign.pk}/edit/"))
    assert 'id="publish-button">' in html and 'id="publish-button" disabled' not in html
    assert 'id="section-publish" class="section open"' in html
    assert html.count(">Edit</a>") >= 4  # each summary card has an Edit link


def test_publish_of_incomplete_campaign_is_refused(marketer_client):
    campaign = _at_when()
    response = marketer_client.post(f"/campaigns/{campaign.pk}/publish/", follow=True)
    assert "Complete every section before publishing." in _html(response)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.runs.exists()


def test_edit_link_opens_a_completed_section(marketer_client):
    campaign = _at_when()
    response = marketer_client.get(f"/campaigns/{campaign.pk}/edit/who/", **HTMX)
    html = _html(response)
    assert 'id="builder"' in html and "<html" not in html
    assert 'id="section-who" class="section open"' in html
    response = marketer_client.get(f"/campaigns/{campaign.pk}/edit/who/")
    assert response.status_code == 302 and response["Location"].endswith("?section=who")


def test_running_campaign_cannot_be_edited(marketer_client):
    campaign = _at_when(status=Campaign.Status.RUNNING, when_complete=True, delivery="now")
    response = marketer_client.get(f"/campaigns/{campaign.pk}/edit/")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    post_section(marketer_client, campaign, "start", {"name": "Renamed", "behavior": "past"})
    campaign.refresh_from_db()
    assert campaign.name != "Renamed"


def test_budget_change_re_renders_only_the_expected_points_note(marketer_client):
    """Issue #16: a note's refresh never re-renders the section, so fields typed meanwhile stay."""
    campaign = _live_at_what()
    data = {
        "reward_type": "points",
        "points_type": "random",
        "random_min": "10",
        "random_max": "100",
        "random_favor": "avg",
        "budget_campaign": "500",
    }
    url = f"/campaigns/{campaign.pk}/edit/what/?refresh=random-expectation"
    html = _html(marketer_client.post(url, data, **HTMX))
    assert html.lstrip().startswith('<div class="field full" id="random-expectation"')
    assert 'id="section-what"' not in html and "<input" not in html and "<html" not in html
    assert "The campaign budget of 500 points covers about" in html


def test_coupon_choice_re_renders_only_the_inventory_note(marketer_client, monkeypatch):
    campaign = _past_at_what()
    coupon = CouponFactory(kind=Coupon.Kind.BULK, name="DIWALI")
    monkeypatch.setattr(catalogue, "audience_estimate", lambda campaign: 1200)
    monkeypatch.setattr(catalogue, "coupon_codes_left", lambda coupon: 500)
    data = {"reward_type": "coupon", "coupon_kind": "bulk", "coupon": coupon.pk}
    url = f"/campaigns/{campaign.pk}/edit/what/?refresh=what-inventory"
    html = _html(marketer_client.post(url, data, **HTMX))
    assert html.lstrip().startswith('<div id="what-inventory"')
    assert "<select" not in html and 'id="section-what"' not in html
    assert "The estimated audience (≈ 1,200 profiles) exceeds the codes left (500)." in html


def test_inaction_constant_property_is_chosen_from_what_both_events_have(marketer_client):
    """Issue #16: a dropdown of the shared catalogue properties; a typo can no longer reward nobody."""
    event_definition("Added To Cart", **{"Product ID": "string", "Price": "number", "Size": "string"})
    event_definition("Charged", **{"Product ID": "string", "Price": "number", "Amount": "number"})
    campaign = _draft(qualification=Campaign.Qualification.LIVE_INACTION)
    data = {
        "inaction_event_a": "Added To Cart",
        "inaction_event_b": "Charged",
        "inaction_window_value": 10,
        "inaction_window_unit": "minutes",
    }
    html = _html(post_section(marketer_client, campaign, "who", data, refresh=True))
    select = html[
        html.index('name="constant_property"') : html.index("</select>", html.index('name="constant_property"'))
    ]
    assert '<option value="Price">Price</option>' in select and '<option value="Product ID">' in select
    assert "Size" not in select and "Amount" not in select
    html = _html(post_section(marketer_client, campaign, "who", {**data, "constant_property": "Product Id"}))
    assert MSG_CONSTANT_PROPERTY in html
    campaign.refresh_from_db()
    assert not campaign.who_complete and campaign.constant_property == ""
    post_section(marketer_client, campaign, "who", {**data, "constant_property": "Price"})
    campaign.refresh_from_db()
    assert campaign.constant_property == "Price" and campaign.who_complete


def test_inaction_constant_property_says_when_the_events_share_nothing(marketer_client):
    event_definition("Added To Cart", Size="string")
    event_definition("Charged", Amount="number")
    campaign = _draft(qualification=Campaign.Qualification.LIVE_INACTION)
    data = {"inaction_event_a": "Added To Cart", "inaction_event_b": "Charged"}
    html = _html(post_section(marketer_client, campaign, "who", data, refresh=True))
    assert "Added To Cart and Charged share no property" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"points_type": "random", "random_min": "1", "random_max": "9" * 20},
            "The maximum points must be at most 2,147,483,647.",
        ),
        (
            {"points_type": "random", "random_min": "1.5", "random_max": "10"},
            "Enter the minimum points as a whole number.",
        ),
    ],
)
def test_a_number_past_what_the_campaign_can_store_is_refused_by_name(marketer_client, data, message):
    """Twenty nines in a count used to reach PostgreSQL ("integer out of range": a 500 in the builder)."""
    campaign = _draft()
    Campaign.objects.filter(pk=campaign.pk).update(who_complete=True)
    wallet = WalletFactory()
    response = post_section(marketer_client, campaign, "what", {"reward_type": "points", "wallet": wallet.pk, **data})
    assert response.status_code == 422
    assert message in _html(response)
    campaign.refresh_from_db()
    assert not campaign.what_complete and campaign.random_max is None
