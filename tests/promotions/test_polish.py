"""The smaller things a polished product does (issue #16)."""

import datetime
import logging

import pytest

from promotions.models import Campaign
from tests.factories import UserFactory
from tests.promotions.factories import CampaignFactory
from tests.promotions.helpers import HTMX, KOLKATA, campaign_past, post_section

pytestmark = pytest.mark.django_db


def test_redemption_activation_defaults_to_immediate(marketer_client):
    campaign = campaign_past(status=Campaign.Status.DRAFT, what_complete=False, when_complete=False, members=0)
    html = post_section(marketer_client, campaign, "what", {"reward_type": "coupon"}, refresh=True).content.decode()
    assert 'name="redemption_activation" value="immediate" required id="id_redemption_activation_0" checked' in html
    # Unless the marketer picks Custom, nothing more to fill: the delay fields are not offered.
    assert 'name="redemption_delay_value"' not in html


def test_creator_filter_shows_the_same_names_as_the_column(marketer_client):
    mia = UserFactory(username="mia", first_name="Mia", last_name="Rao")
    bare = UserFactory(username="ops", first_name="", last_name="")
    campaign_past(user=mia, name="A", members=0)
    campaign_past(user=bare, name="B", members=0)
    html = marketer_client.get("/campaigns/").content.decode()
    assert f'<option value="{mia.pk}">Mia Rao</option>' in html
    assert f'<option value="{bare.pk}">ops</option>' in html
    assert f'<option value="{mia.pk}">mia</option>' not in html


def test_start_date_filter_reads_dates_in_the_account_timezone(marketer_client):
    # 00:30 on 10 Jan in Kolkata is still 9 Jan in UTC.
    early = datetime.datetime(2026, 1, 10, 0, 30, tzinfo=KOLKATA)
    late = datetime.datetime(2026, 1, 10, 23, 50, tzinfo=KOLKATA)
    CampaignFactory(name="Early riser", starts_at=early)
    CampaignFactory(name="Night owl", starts_at=late)
    CampaignFactory(name="Next day", starts_at=late + datetime.timedelta(minutes=20))
    html = marketer_client.get("/campaigns/?start_after=2026-01-10&start_before=2026-01-10").content.decode()
    assert "Early riser" in html and "Night owl" in html and "Next day" not in html
    html = marketer_client.get("/campaigns/?start_before=2026-01-09").content.decode()
    assert "Early riser" not in html


def test_a_403_is_logged_as_one_line(partner_client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = partner_client.get("/campaigns/")
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /campaigns/"
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_pages_declare_a_favicon_so_browsers_do_not_ask_for_favicon_ico(marketer_client):
    html = marketer_client.get("/campaigns/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


def test_builder_section_save_returns_the_edit_title_and_header(marketer_client):
    response = marketer_client.post("/campaigns/new/start/", {"name": "Welcome", "behavior": "past"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith("<title>Edit campaign · Promo Campaigns</title>")
    assert "<h1>Edit campaign</h1>" in html and "<strong>Welcome</strong>" in html


# Walkthrough findings (session 5) ---------------------------------------------------------------


def test_every_builder_field_is_named_in_its_messages():
    """No "Enter the for every." / "Enter the give." / "Enter the at." / "Enter the from.": a field
    whose label is not a noun has a name of its own for messages."""
    import re

    from promotions import forms as section_forms

    prepositions = re.compile(
        r"^(Enter|Choose) the (for every|give|at|from|until|on|within|min|max|per day|per week|per month|"
        r"send at|start at|end at|start|end|expires on|activate after|redeemable after|counts within|repeat)\.$"
    )
    seen = {}
    for form_class in (section_forms.StartForm, section_forms.WhoForm, section_forms.WhatForm, section_forms.WhenForm):
        for name, base in form_class.base_fields.items():
            field = __import__("copy").deepcopy(base)
            section_forms.name_field_messages(field, name)
            seen[name] = str(field.error_messages["required"])
            assert not prepositions.match(seen[name]), (name, seen[name])
    assert seen["proportional_units"] == "Enter the number of units (For every)."
    assert seen["proportional_points"] == "Enter the points to give (Give)."
    assert seen["run_time"] == "Enter the time of day (At)."
    assert seen["recurrence_start"] == "Enter the first day (From)."


def test_proportional_points_name_both_fields_when_left_empty(marketer_client):
    from tests.promotions.factories import WalletFactory, event_definition

    event_definition("Charged", Amount="number")
    campaign = CampaignFactory(
        qualification=Campaign.Qualification.LIVE_ACTION,
        triggers=[{"event": "Charged", "filters": []}],
        who_complete=True,
    )
    data = {
        "reward_type": "points",
        "wallet": WalletFactory().pk,
        "points_type": "proportional",
        "points_property": "Amount",
    }
    html = post_section(marketer_client, campaign, "what", data).content.decode()
    assert "Enter the number of units (For every)." in html and "Enter the points to give (Give)." in html
    assert "Enter the for every." not in html and "Enter the give." not in html


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"expiry_kind": "never"}, {"expiry": "never"}),
        ({"expiry_kind": "after", "expiry_value": 3, "expiry_unit": "months"}, {"expiry": "custom", "days": "90"}),
        ({"expiry_kind": "after", "expiry_value": 45, "expiry_unit": "days"}, {"expiry": "custom", "days": "45"}),
    ],
)
def test_custom_points_lifecycle_starts_from_the_wallets_expiry_rule(marketer_client, rule, expected):
    from tests.promotions.factories import WalletFactory

    wallet = WalletFactory(**rule)
    campaign = campaign_past(status=Campaign.Status.DRAFT, what_complete=False, when_complete=False, members=0)
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "custom_lifecycle": "on"}
    html = post_section(marketer_client, campaign, "what", data, refresh=True).content.decode()
    assert f'name="expiry" value="{expected["expiry"]}"' in html
    checked = html[html.index(f'name="expiry" value="{expected["expiry"]}"') :].split(">", 1)[0]
    assert "checked" in checked
    if "days" in expected:
        assert f'name="expiry_days" value="{expected["days"]}"' in html
    assert 'name="activation" value="immediate"' in html


def test_custom_lifecycle_for_a_calendar_year_wallet_expires_at_that_years_end(marketer_client):
    from django.utils import timezone

    from tests.promotions.factories import WalletFactory

    wallet = WalletFactory(expiry_kind="calendar_year", expiry_value=1)
    campaign = campaign_past(status=Campaign.Status.DRAFT, what_complete=False, when_complete=False, members=0)
    data = {"reward_type": "points", "wallet": wallet.pk, "points_type": "flat", "custom_lifecycle": "on"}
    html = post_section(marketer_client, campaign, "what", data, refresh=True).content.decode()
    year = timezone.now().astimezone(KOLKATA).year + 1
    assert f'name="expiry_at" value="31 Dec {year} 23:59"' in html


def test_live_budget_figures_have_thousands_separators(marketer_client):
    from decimal import Decimal

    from promotions.models import CampaignCounter
    from tests.promotions.helpers import campaign_live

    campaign = campaign_live(status=Campaign.Status.RUNNING, budget_campaign=Decimal(50000))
    CampaignCounter.objects.update_or_create(campaign=campaign, defaults={"points_used": Decimal("4941.5")})
    html = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert '<span class="budget-used">4,941.5</span> used' in html
    assert '<span class="budget-left">45,058.5</span> left of 50,000' in html
    api_rows = __import__("promotions.selectors", fromlist=["x"]).campaign_live_limits(campaign=campaign)
    assert api_rows[0]["used"] == Decimal("4941.5")  # numbers, formatted by each reader


@pytest.mark.parametrize(
    ("asked", "shown"), [("10", 25), ("25", 25), ("40", 50), ("100", 100), ("5000", 100), ("x", 25)]
)
def test_per_page_is_clamped_to_the_sizes_offered(marketer_client, asked, shown):
    for i in range(3):
        CampaignFactory(name=f"C{i}")
    html = marketer_client.get(f"/campaigns/?per_page={asked}").content.decode()
    assert f'<option value="{shown}" selected>{shown}</option>' in html


def test_an_unknown_page_is_the_apps_own_404_with_debug_off(marketer_client, settings):
    settings.DEBUG = False
    response = marketer_client.get("/campaigns/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="not-found"' in html and "This page does not exist" in html and "/campaigns/no-such-page/" in html
    assert 'class="topbar"' in html  # the app's own layout, navigation included
    api = marketer_client.get("/api/1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["code"] == 404


def test_the_configuration_summary_writes_numbers_with_thousands_separators(marketer_client):
    from decimal import Decimal

    from tests.promotions.helpers import campaign_live

    campaign = campaign_live(
        budget_campaign=Decimal(250000), budget_per_user=Decimal("1500.5"), flat_points=Decimal(12000)
    )
    html = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert "<dt>Campaign budget</dt><dd>250,000</dd>" in html
    assert "<dt>Per-user budget</dt><dd>1,500.5</dd>" in html
    assert "Flat 12,000 Supercoins" in html
