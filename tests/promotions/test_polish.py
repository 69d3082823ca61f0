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
