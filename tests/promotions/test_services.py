"""Publishing and the status actions (SPEC 5, 6.3)."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from promotions import schedule, services
from promotions.models import Campaign, CampaignEvent, CampaignRun
from tests.promotions.helpers import campaign_live, campaign_past, in_future

pytestmark = pytest.mark.django_db
S = Campaign.Status

ALLOWED = {
    "pause": {S.SCHEDULED, S.RUNNING},
    "resume": {S.PAUSED},
    "stop": {S.SCHEDULED, S.RUNNING, S.PAUSED},
    "archive": {S.DRAFT, S.STOPPED, S.COMPLETED},
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("status", [s.value for s in S])
def test_each_action_only_from_its_statuses(action, status, marketer):
    campaign = campaign_past(status=status)
    if status in ALLOWED[action]:
        services.ACTIONS[action](campaign=campaign, actor=marketer)
        assert CampaignEvent.objects.filter(campaign=campaign, actor=marketer).exists()
    else:
        with pytest.raises(services.CampaignError) as exc:
            services.ACTIONS[action](campaign=campaign, actor=marketer)
        assert str(exc.value) == services.MSG_TRANSITION.format(action=action, status=S(status).label)
        campaign.refresh_from_db()
        assert campaign.status == status


@pytest.mark.parametrize("status", [s.value for s in S if s != S.DRAFT])
def test_publish_only_from_draft(status, marketer):
    with pytest.raises(services.CampaignError):
        services.campaign_publish(campaign=campaign_past(status=status), actor=marketer)


def test_publish_send_now_runs_now(marketer):
    campaign = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    run = campaign.runs.get()
    assert campaign.status == S.RUNNING and run.status == CampaignRun.Status.PENDING
    assert abs((run.scheduled_for - timezone.now()).total_seconds()) < 5
    assert CampaignEvent.objects.filter(campaign=campaign, action="published").exists()


def test_publish_scheduled_creates_the_run_at_that_time(marketer):
    when = in_future(days=1).replace(microsecond=0)
    campaign = services.campaign_publish(campaign=campaign_past(delivery="later", scheduled_at=when), actor=marketer)
    assert campaign.status == S.SCHEDULED and campaign.runs.get().scheduled_for == when


def test_publish_recurring_creates_the_first_occurrence(marketer):
    start = (timezone.now() + datetime.timedelta(days=2)).date()
    campaign = campaign_past(
        delivery="recurring", frequency="daily", run_time=datetime.time(9, 0), recurrence_start=start
    )
    campaign = services.campaign_publish(campaign=campaign, actor=marketer)
    run = campaign.runs.get()
    local = run.scheduled_for.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert campaign.status == S.SCHEDULED and (local.date(), local.hour) == (start, 9)


def test_publish_live_creates_no_run(marketer):
    campaign = services.campaign_publish(campaign=campaign_live(), actor=marketer)
    assert campaign.status == S.RUNNING and not campaign.runs.exists() and campaign.starts_at is not None
    later = campaign_live(live_start="at", starts_at=in_future(days=1))
    assert services.campaign_publish(campaign=later, actor=marketer).status == S.SCHEDULED


def test_publish_refuses_a_section_that_no_longer_holds(marketer):
    campaign = campaign_past(delivery="later", scheduled_at=in_future(hours=-1))
    with pytest.raises(services.CampaignError, match="Complete every section"):
        services.campaign_publish(campaign=campaign, actor=marketer)
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT and not campaign.when_complete


def test_stop_cancels_pending_runs(marketer):
    campaign = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    campaign = services.campaign_stop(campaign=campaign, actor=marketer)
    assert campaign.status == S.STOPPED
    assert campaign.runs.get().status == CampaignRun.Status.CANCELLED


def test_duplicate_is_a_new_draft_with_the_same_settings(marketer):
    source = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    copy = services.campaign_duplicate(campaign=source, actor=marketer)
    assert copy.pk != source.pk and copy.status == S.DRAFT and copy.name == f"Copy of {source.name}"
    assert (copy.custom_list_id, copy.wallet_id, copy.flat_points) == (
        source.custom_list_id,
        source.wallet_id,
        source.flat_points,
    )
    assert copy.all_sections_complete and not copy.runs.exists()
    assert CampaignEvent.objects.filter(campaign=source, action="duplicated").exists()


def test_recurring_occurrences_keep_wall_time_across_berlin_dst():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    after = datetime.datetime(2026, 3, 27, 12, 0, tzinfo=datetime.UTC)
    first = schedule.occurrence_next(
        frequency="daily",
        weekdays=[],
        month_day=None,
        run_time=datetime.time(9, 0),
        start=datetime.date(2026, 3, 27),
        end=None,
        tz=berlin,
        after=after,
    )
    assert first == datetime.datetime(2026, 3, 28, 8, 0, tzinfo=datetime.UTC)  # CET, UTC+1
    second = schedule.occurrence_next(
        frequency="daily",
        weekdays=[],
        month_day=None,
        run_time=datetime.time(9, 0),
        start=datetime.date(2026, 3, 27),
        end=None,
        tz=berlin,
        after=first,
        inclusive=False,
    )
    # 29 March 2026: clocks go forward; 09:00 local is now 07:00 UTC.
    assert second == datetime.datetime(2026, 3, 29, 7, 0, tzinfo=datetime.UTC)


def test_monthly_day_31_falls_back_to_the_last_day():
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    moment = schedule.occurrence_next(
        frequency="monthly",
        weekdays=[],
        month_day=31,
        run_time=datetime.time(10, 0),
        start=datetime.date(2027, 2, 1),
        end=None,
        tz=kolkata,
        after=datetime.datetime(2027, 1, 31, 12, 0, tzinfo=datetime.UTC),
    )
    assert moment.astimezone(kolkata).date() == datetime.date(2027, 2, 28)


def test_weekly_picks_the_next_chosen_day():
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    moment = schedule.occurrence_next(
        frequency="weekly",
        weekdays=[2, 4],  # Wed, Fri
        month_day=None,
        run_time=datetime.time(8, 0),
        start=datetime.date(2026, 11, 23),  # a Monday
        end=None,
        tz=kolkata,
        after=datetime.datetime(2026, 11, 23, 0, 0, tzinfo=datetime.UTC),
    )
    assert moment.astimezone(kolkata).date() == datetime.date(2026, 11, 25)


def test_action_views_refuse_disallowed_status(marketer_client):
    campaign = campaign_past(status=S.DRAFT)
    response = marketer_client.post(f"/campaigns/{campaign.pk}/pause/", follow=True)
    assert "You cannot pause a campaign that is Draft." in response.content.decode()
    stop_page = marketer_client.get(f"/campaigns/{campaign.pk}/stop/").content.decode()
    assert "You cannot stop a campaign that is Draft." in stop_page


def test_stop_needs_confirmation(marketer_client):
    campaign = campaign_past(status=S.RUNNING)
    assert "Stopping is permanent" in marketer_client.get(f"/campaigns/{campaign.pk}/stop/").content.decode()
    marketer_client.post(f"/campaigns/{campaign.pk}/stop/")
    campaign.refresh_from_db()
    assert campaign.status == S.RUNNING
    marketer_client.post(f"/campaigns/{campaign.pk}/stop/", {"confirm": "yes"})
    campaign.refresh_from_db()
    assert campaign.status == S.STOPPED
