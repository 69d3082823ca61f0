"""Dates are typed and shown as the app shows them ("4 Dec 2026"), read in the account timezone
(issue #16; accounts/dates.py)."""

import datetime
import json

import pytest

from accounts import dates
from promotions.models import Campaign
from segments import builder
from tests.promotions.factories import CampaignFactory, custom_list_with
from tests.promotions.helpers import KOLKATA, in_future, post_section
from tests.segments.factories import EventFactory
from tests.vouchers.factories import PartnerFactory, VoucherListFactory
from tests.vouchers.helpers import csv_file
from vouchers.models import VoucherList

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "typed",
    ["4 Dec 2026", "04 Dec 2026", "4 dec 2026", "4 December 2026", "4 Dec, 2026", " 4  Dec 2026 ", "2026-12-04"],
)
def test_a_date_is_read_as_the_app_writes_it_or_iso(typed):
    assert dates.date_parse(typed) == datetime.date(2026, 12, 4)


@pytest.mark.parametrize("typed", ["12/04/2026", "04/12/2026", "31 Feb 2026", "tomorrow", "2026-13-01", "Dec 2026"])
def test_an_ambiguous_or_impossible_date_is_refused_with_one_clear_message(typed):
    assert dates.date_parse(typed) is None
    field = dates.DateField()
    with pytest.raises(Exception) as exc:
        field.clean(typed)
    assert exc.value.messages == [dates.ERR_DATE]


def test_whole_days_are_the_account_timezones():
    day = datetime.date(2026, 12, 4)
    assert dates.day_start(day) == datetime.datetime(2026, 12, 4, tzinfo=KOLKATA)
    assert dates.day_end(day) == datetime.datetime(2026, 12, 5, tzinfo=KOLKATA)
    assert dates.day_start(day).astimezone(datetime.UTC).hour == 18  # 3 Dec, 18:30 UTC


def test_campaign_list_start_filter_takes_the_apps_format_in_the_account_timezone(marketer_client):
    # 00:30 on 10 Jan in Kolkata is still 9 Jan in UTC; 23:50 on 9 Jan in Kolkata is not 10 Jan.
    CampaignFactory(name="Early riser", starts_at=datetime.datetime(2026, 1, 10, 0, 30, tzinfo=KOLKATA))
    CampaignFactory(name="Day before", starts_at=datetime.datetime(2026, 1, 9, 23, 50, tzinfo=KOLKATA))
    html = marketer_client.get("/campaigns/?start_after=10+Jan+2026&start_before=10+Jan+2026").content.decode()
    assert "Early riser" in html and "Day before" not in html
    # The field shows the date as every page does, with a placeholder and the calendar hook.
    assert 'name="start_after" value="10 Jan 2026"' in html
    assert 'placeholder="e.g. 4 Dec 2026"' in html and "data-date-field" in html
    assert 'type="date"' not in html

    refused = marketer_client.get("/campaigns/?start_after=01/10/2026").content.decode()
    assert "Start from: Enter a date like 4 Dec 2026." in refused
    # Typed in the filter row, the table is swapped in by HTMX: the message comes with it.
    swapped = marketer_client.get(
        "/campaigns/?start_after=01/10/2026", headers={"HX-Request": "true", "HX-Target": "campaign-table"}
    ).content.decode()
    assert "<html" not in swapped and "Start from: Enter a date like 4 Dec 2026." in swapped
    backwards = marketer_client.get(
        "/campaigns/?start_after=10+Jan+2026&start_before=5+Jan+2026",
        headers={"HX-Request": "true", "HX-Target": "campaign-table"},
    ).content.decode()
    assert "Start until (5 Jan 2026) is before Start from (10 Jan 2026)." in backwards


def test_event_list_dates_are_whole_days_in_the_account_timezone(marketer_client):
    EventFactory(name="Charged", occurred_at=datetime.datetime(2026, 1, 10, 0, 30, tzinfo=KOLKATA))
    EventFactory(name="Refunded", occurred_at=datetime.datetime(2026, 1, 9, 23, 50, tzinfo=KOLKATA))
    EventFactory(name="Opened", occurred_at=datetime.datetime(2026, 1, 11, 0, 5, tzinfo=KOLKATA))
    html = marketer_client.get("/audience/events/?start=10+Jan+2026&end=10+Jan+2026").content.decode()
    assert "<tr><td>Charged" in html and "<tr><td>Refunded" not in html and "<tr><td>Opened" not in html
    assert 'name="start" id="id_start" value="10 Jan 2026"' in html
    bad = marketer_client.get("/audience/events/?start=2026/01/10").content.decode()
    assert "From: Enter a date like 4 Dec 2026." in bad


def test_wallet_transaction_filter_reads_the_apps_format(marketer_client):
    from tests.wallets.factories import WalletFactory

    wallet = WalletFactory()
    response = marketer_client.get(f"/wallets/{wallet.pk}/transactions/?start=4+Dec+2026&end=3+Dec+2026")
    assert "The start date must be on or before the end date." in response.content.decode()
    page = marketer_client.get(f"/wallets/{wallet.pk}/transactions/?start=4/12/2026").content.decode()
    assert dates.ERR_DATE in page


def test_voucher_list_expiry_is_typed_and_shown_as_the_app_shows_dates(marketer_client):
    partner = PartnerFactory()
    expiry = (datetime.date.today() + datetime.timedelta(days=400)).replace(day=4)
    typed = f"{expiry.day} {expiry:%b %Y}"
    response = marketer_client.post(
        "/vouchers/new/",
        {
            "partner": partner.pk,
            "tag": "dates",
            "name": "Dates",
            "expires_on": typed,
            "low_stock_threshold": 1,
            "file": csv_file("code\nA1\n"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    voucher_list = VoucherList.objects.get(tag="dates")
    assert voucher_list.expires_on == expiry
    listed = VoucherListFactory(expires_on=expiry)
    edit = marketer_client.get(f"/vouchers/{listed.pk}/edit/").content.decode()
    assert f'value="{typed}"' in edit


def test_builder_when_dates_and_times_are_typed_as_shown_in_the_account_timezone(marketer_client):
    campaign = CampaignFactory(
        qualification=Campaign.Qualification.CUSTOM_LIST,
        custom_list=custom_list_with(2),
        audience_source="custom_list",
        who_complete=True,
        what_complete=True,
    )
    moment = in_future(days=3).astimezone(KOLKATA).replace(hour=18, minute=30, second=0, microsecond=0)
    typed = f"{moment.day} {moment:%b %Y} 18:30"
    post_section(marketer_client, campaign, "when", {"delivery": "later", "scheduled_at": typed})
    campaign.refresh_from_db()
    assert campaign.when_complete and campaign.scheduled_at == moment
    html = marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=when").content.decode()
    assert f'value="{typed}"' in html and 'placeholder="e.g. 4 Dec 2026 18:30"' in html

    start = in_future(days=5).astimezone(KOLKATA).date()
    data = {
        "delivery": "recurring",
        "frequency": "daily",
        "run_time": "09:30",
        "recurrence_start": f"{start.day} {start:%B %Y}",
    }
    post_section(marketer_client, campaign, "when", data)
    campaign.refresh_from_db()
    assert campaign.recurrence_start == start
    html = marketer_client.get(f"/campaigns/{campaign.pk}/edit/?section=when").content.decode()
    assert f'value="{start.day} {start:%b %Y}"' in html

    refused = post_section(marketer_client, campaign, "when", {**data, "recurrence_start": "03/04/2027"})
    assert dates.ERR_DATE in refused.content.decode()


def test_rule_builder_dates_are_typed_as_shown_and_stored_as_iso():
    from django.http import QueryDict

    posted = QueryDict(mutable=True)
    posted.update(
        {
            "rb.op": "and",
            "rb.rules.0.type": "did",
            "rb.rules.0.event": "Charged",
            "rb.rules.0.window.type": "between",
            "rb.rules.0.window.date": "4 Dec 2026",
            "rb.rules.0.window.date2": "31 December 2026",
        }
    )
    tree = builder.tree_from_controls(posted)
    assert tree["rules"][0]["window"] == {"type": "between", "date": "2026-12-04", "date2": "2026-12-31"}
    vm = builder.view_model._window_vm(tree["rules"][0]["window"], "rb.rules.0.window")
    assert (vm["date"], vm["date2"]) == ("4 Dec 2026", "31 Dec 2026")
    json.dumps(tree)  # stored as the rule language's ISO dates
