"""The campaign rules (promotions/rules/) as plain functions, and proof that the builder's forms and
the publish service apply the same ones: a saved campaign the catalogue or the clock has since made
invalid is refused at publish with exactly the errors the section's form shows."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.account import account_tzinfo
from coupons.models import Coupon
from promotions import points, services
from promotions.forms import section_form_from_campaign
from promotions.models import Campaign
from promotions.rules import start, what, when, who
from promotions.rules.campaign import campaign_section_errors, campaign_sections_invalid
from promotions.rules.errors import MSG_FUTURE, MSG_NOT_OFFERED
from promotions.rules.filters import MSG_FILTER_NOT_OF_EVENT
from segments.models import EventPropertyDefinition
from tests.promotions.factories import CampaignFactory, CouponFactory, VoucherListFactory, event_definition
from tests.promotions.helpers import campaign_live, campaign_past, in_future

C = Campaign
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)


# The rules as functions: each one's accept and refuse case ------------------------------------------


def test_random_points_min_at_most_max_within_the_span():
    assert what.random_range_errors(1, 10) == {}
    assert what.random_range_errors(None, 10) == {}  # a missing bound is the field's own error
    assert what.random_range_errors(10, 1) == {"random_max": [what.MSG_RANDOM_ORDER]}
    assert what.random_range_errors(1, points.MAX_RANDOM_SPAN + 1) == {"random_max": [what.MSG_RANDOM_SPAN]}


def test_points_expire_in_the_future():
    assert what.expiry_errors(NOW + datetime.timedelta(minutes=1), now=NOW) == {}
    assert what.expiry_errors(None, now=NOW) == {}
    assert what.expiry_errors(NOW, now=NOW) == {"expiry_at": [MSG_FUTURE]}


def test_metadata_keys_once_and_a_value_needs_a_key():
    assert what.metadata_check([("tier", "gold"), ("", "")]) == ({"tier": "gold"}, {})
    metadata, errors = what.metadata_check([("tier", "gold"), (" tier ", "silver"), ("", "x")])
    assert metadata == {"tier": "gold"}
    assert errors == {
        "metadata_key_1": [what.MSG_DUPLICATE_KEY.format(key="tier")],
        "metadata_key_2": [what.MSG_VALUE_WITHOUT_KEY.format(row=3)],
    }


def test_percentage_and_proportional_need_a_numeric_trigger_property():
    assert what.points_types([]) == ["flat", "random"]
    assert what.points_types(["Amount"]) == ["flat", "random", "percentage", "proportional"]


def test_the_fields_offered_follow_the_choices():
    live_random = what.fields_offered(
        reward="points", live=True, points_type="random", offered_types=what.points_types([])
    )
    assert {"random_min", "random_max", "budget_campaign", "budget_per_user"} <= set(live_random)
    past_flat = what.fields_offered(reward="points", live=False, points_type="flat", offered_types=["flat"])
    assert "flat_points" in past_flat and "budget_campaign" not in past_flat
    not_offered = what.fields_offered(reward="points", live=False, points_type="percentage", offered_types=["flat"])
    assert "percentage" not in not_offered
    assert when.fields_offered(live=False, delivery="recurring", frequency="weekly")[-1] == "weekdays"
    assert when.fields_offered(live=True, live_start="at", live_end="never") == ["live_start", "live_end", "starts_at"]


@pytest.mark.django_db
def test_a_goal_counts_within_a_window_on_its_event_properties():
    event_definition("Purchased", Amount="number")
    known = {"Amount": "number"}
    row = {"property": "Amount", "operator": "greater_than", "value": "10", "value_type": "number"}
    clean, errors = what.goal_check("Purchased", 7, [row], known)
    assert errors == {} and clean[0]["property"] == "Amount"
    _, errors = what.goal_check(
        "Purchased",
        None,
        [{**row, "property": "Colour", "operator": "equals", "value": "red", "value_type": "string"}],
        known,
    )
    assert errors["goal_window_value"] == [what.MSG_GOAL_WINDOW]
    message = MSG_FILTER_NOT_OF_EVENT.format(property="Colour", event="Purchased")
    assert errors["goal_filters"] == [what.MSG_GOAL_FILTER_ROW.format(row=1, message=message)]


@pytest.mark.django_db
def test_trigger_filters_are_properties_of_their_event():
    event_definition("Charged", Amount="number")
    row = {"property": "Amount", "operator": "greater_than", "value": "10", "value_type": "number"}
    assert who.trigger_filters_check(0, event="Charged", rows=[row], known={"Amount": "number"})[1] == {}
    _, errors = who.trigger_filters_check(1, event="Charged", rows=[row], known={})
    message = MSG_FILTER_NOT_OF_EVENT.format(property="Amount", event="Charged")
    assert errors == {"trigger_filters_1": [who.MSG_FILTER_ROW.format(trigger=2, row=1, message=message)]}


def test_inaction_event_b_differs_from_event_a():
    assert who.inaction_errors("Viewed", "Bought") == {}
    assert who.inaction_errors("Viewed", None) == {}
    assert who.inaction_errors("Viewed", "Viewed") == {"inaction_event_b": [who.MSG_SAME_EVENTS]}


def test_audience_rules_are_a_rule_tree():
    with pytest.raises(ValidationError, match=who.MSG_RULES_JSON):
        who.rules_object({}, required=True)
    with pytest.raises(ValidationError, match=who.MSG_RULES_JSON):
        who.rules_object(["not", "a", "tree"], required=False)
    assert who.rules_object({"op": "and", "rules": []}, required=False) == {}


def test_times_are_in_the_future_and_an_end_after_its_start():
    offered = ["scheduled_at"]
    assert when.schedule_check({"scheduled_at": NOW}, offered=offered, now=NOW, other_errors=False)[1] == {
        "scheduled_at": [MSG_FUTURE]
    }
    later = NOW + datetime.timedelta(hours=1)
    assert when.schedule_check({"scheduled_at": later}, offered=offered, now=NOW, other_errors=False)[1] == {}
    live = {"starts_at": later + datetime.timedelta(hours=1), "ends_at": later}
    errors = when.schedule_check(live, offered=["starts_at", "ends_at"], now=NOW, other_errors=False)[1]
    assert errors == {"ends_at": [when.MSG_END_BEFORE_START]}


@pytest.mark.django_db
def test_a_recurring_schedule_starts_today_or_later_and_has_a_run():
    offered = ["frequency", "run_time", "recurrence_start", "recurrence_end", "weekdays"]
    with timezone.override(account_tzinfo()):
        now = timezone.now()
        today = timezone.localdate()
        monday = today + datetime.timedelta(days=7 - today.weekday())
        weekly = {"frequency": "weekly", "weekdays": ["0"], "run_time": datetime.time(9), "recurrence_start": monday}
        first, errors = when.schedule_check(weekly, offered=offered, now=now, other_errors=False)
        assert errors == {} and first.date() == monday
        past = {**weekly, "recurrence_start": today - datetime.timedelta(days=1)}
        assert when.schedule_check(past, offered=offered, now=now, other_errors=False)[1] == {
            "recurrence_start": [when.MSG_START_PAST]
        }
        no_run = {**weekly, "weekdays": ["1"], "recurrence_end": monday}  # Tuesdays, from Monday to Monday
        first, errors = when.schedule_check(no_run, offered=offered, now=now, other_errors=False)
        assert first is None and errors == {"recurrence_end": [when.MSG_NO_OCCURRENCE]}


@pytest.mark.django_db
def test_a_campaign_has_a_name():
    assert start.stored_errors(CampaignFactory.build(name="Diwali")) == {}
    assert start.stored_errors(CampaignFactory.build(name="  ")) == {"name": ["Enter the campaign name."]}


# Publish and the form apply the same rules ----------------------------------------------------------


def form_errors(campaign: Campaign, section: str) -> dict:
    with timezone.override(account_tzinfo()):
        form = section_form_from_campaign(campaign, section)
        return {name: list(messages) for name, messages in form.errors.items()}


def _wallet_deactivated():
    campaign = campaign_past()
    campaign.wallet.is_active = False
    campaign.wallet.save()
    return campaign, "what"


def _coupon_used_up():
    coupon = CouponFactory(kind=Coupon.Kind.BULK, codes_total=5, codes_assigned=5)
    return campaign_past(reward_type="coupon", coupon_kind="bulk", coupon=coupon, wallet=None), "what"


def _partner_deactivated():
    voucher_list = VoucherListFactory()
    campaign = campaign_past(reward_type="voucher", partner=voucher_list.partner, voucher_list=voucher_list)
    voucher_list.partner.is_active = False
    voucher_list.partner.save()
    return campaign, "what"


def _filter_property_dropped():
    campaign = campaign_live(
        triggers=[{"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": 10.0}]}]
    )
    EventPropertyDefinition.objects.filter(event__name="Charged", name="Amount").delete()
    return campaign, "who"


def _percentage_with_two_triggers():
    campaign = campaign_live(points_type="percentage", points_property="Amount", percentage=5)
    campaign.triggers = [{"event": "Charged", "filters": []}, {"event": "Charged", "filters": []}]
    return campaign, "what"


def _qualification_now_live():
    return campaign_past(qualification=C.Qualification.LIVE_ACTION), "who"


def _send_time_passed():
    return campaign_past(delivery="later", scheduled_at=in_future(hours=-1)), "when"


def _live_end_before_start():
    campaign = campaign_live(live_start="at", starts_at=in_future(days=2), live_end="at", ends_at=in_future(days=3))
    campaign.ends_at = in_future(days=1)  # the database refuses to store it: the rule says why
    return campaign, "when"


def _goal_event_dropped():
    event_definition("Purchased", Amount="number")
    campaign = campaign_past(goal_event="Purchased", goal_window_value=7, goal_window_unit="days")
    campaign.goal_event = "Vanished"
    return campaign, "what"


def _inaction_same_events():
    event_definition("Viewed", Product="string")
    campaign = campaign_live(
        qualification=C.Qualification.LIVE_INACTION,
        triggers=[],
        inaction_event_a="Viewed",
        inaction_event_b="Viewed",
        inaction_window_value=3,
        inaction_window_unit="days",
        constant_property="Colour",
    )
    return campaign, "who"


def _recurring_start_passed():
    start = timezone.localdate() - datetime.timedelta(days=1)
    campaign = campaign_past(delivery="recurring", frequency="weekly", run_time=datetime.time(9), weekdays=[])
    campaign.recurrence_start = start
    return campaign, "when"


def _inaction_after_a_past_audience():
    return campaign_past(qualification=C.Qualification.LIVE_INACTION), "who"


def _rules_audience_emptied():
    return campaign_past(qualification=C.Qualification.PAST_BEHAVIOR, audience_source="rules", rules={}), "who"


SCENARIOS = [
    _recurring_start_passed,
    _inaction_after_a_past_audience,
    _rules_audience_emptied,
    _wallet_deactivated,
    _coupon_used_up,
    _partner_deactivated,
    _filter_property_dropped,
    _percentage_with_two_triggers,
    _qualification_now_live,
    _send_time_passed,
    _live_end_before_start,
    _goal_event_dropped,
    _inaction_same_events,
]


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_a_saved_section_made_invalid_gets_the_errors_the_form_shows(scenario):
    campaign, section = scenario()
    errors = campaign_section_errors(campaign, section)
    assert errors and errors == form_errors(campaign, section)


@pytest.mark.django_db
@pytest.mark.parametrize("section", Campaign.SECTIONS)
def test_a_valid_saved_campaign_is_valid_for_the_rules_and_the_form(section):
    for campaign in (campaign_past(), campaign_live(), campaign_live(live_start="at", starts_at=in_future(days=1))):
        assert campaign_section_errors(campaign, section) == form_errors(campaign, section) == {}


@pytest.mark.django_db
def test_publish_refuses_a_wallet_deactivated_after_the_save_with_the_forms_message(marketer):
    campaign, _ = _wallet_deactivated()
    message = MSG_NOT_OFFERED.format(label="the wallet")
    assert form_errors(campaign, "what") == {"wallet": [message]}
    assert campaign_sections_invalid(campaign, Campaign.SECTIONS) == ["what"]
    with pytest.raises(services.CampaignError, match="Complete every section"):
        services.campaign_publish(campaign=campaign, actor=marketer)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.DRAFT and not campaign.what_complete and campaign.who_complete


def test_the_rules_name_a_missing_choice_or_value_as_the_forms_fields_do():
    """ "Choose the wallet." / "Enter the points." read the same from the rules as from the form's field."""
    import copy

    from django import forms

    from promotions.forms import SECTION_FORMS, name_field_messages
    from promotions.rules.errors import FIELD_NAMES, check_choice, check_present

    checked = 0
    for form_class in SECTION_FORMS.values():
        for name, base in form_class.base_fields.items():
            if name not in FIELD_NAMES or not base.required:
                continue
            field = copy.deepcopy(base)
            name_field_messages(field, name)
            errors = {}
            if isinstance(field, forms.ChoiceField | forms.ModelChoiceField):
                check_choice(errors, name, "", [])
                assert field.error_messages["invalid_choice"] == MSG_NOT_OFFERED.format(label=FIELD_NAMES[name])
            else:
                check_present(errors, name, None)
            assert errors[name] == [field.error_messages["required"]], name
            checked += 1
    assert checked > 30
