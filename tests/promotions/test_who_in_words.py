"""Who is targeted, in words, with the estimate and the exact count at publish (issue #16, SPEC 2.4)."""

import pytest

from promotions import selectors, services
from promotions.models import Campaign, CampaignEvent, CampaignRun
from segments.models import Profile
from tests.promotions.factories import SegmentFactory, event_definition
from tests.promotions.helpers import campaign_live, campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db

PUNE = {
    "op": "and",
    "rules": [
        {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune", "value_type": "string"}
    ],
}


def _rules_campaign(**overrides):
    values = {
        "qualification": Campaign.Qualification.PAST_BEHAVIOR,
        "audience_source": Campaign.AudienceSource.RULES,
        "custom_list": None,
        "rules": PUNE,
    }
    return campaign_past(members=0, **{**values, **overrides})


def test_rules_built_here_are_shown_in_words_with_the_estimate_in_builder_and_detail(marketer_client):
    ProfileFactory.create_batch(2, properties={"City": "Pune"})
    ProfileFactory(properties={"City": "Delhi"})
    campaign = _rules_campaign(status=Campaign.Status.DRAFT)
    builder = marketer_client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert "<dt>Rules</dt><dd>City is Pune</dd>" in builder
    assert "Built here" not in builder
    assert "<dt>Estimated audience</dt><dd>≈ 2 profiles</dd>" in builder
    campaign.status = Campaign.Status.RUNNING
    campaign.save()
    detail = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert "<dt>Rules</dt><dd>City is Pune</dd>" in detail


def test_saved_segment_summary_says_what_the_segment_holds(marketer_client):
    segment = SegmentFactory(name="Pune users", rules=PUNE)
    campaign = _rules_campaign(audience_source=Campaign.AudienceSource.SEGMENT, segment=segment, rules={})
    html = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert "<dt>Saved segment</dt><dd>Pune users</dd>" in html
    assert "<dt>Rules</dt><dd>City is Pune</dd>" in html


def test_live_trigger_filters_and_past_filter_in_words(marketer_client):
    event_definition("App Launched")
    ProfileFactory(properties={"City": "Pune"})
    campaign = campaign_live(
        triggers=[
            {
                "event": "Charged",
                "filters": [{"property": "Amount", "operator": "greater_than", "value": 1000, "value_type": "number"}],
            }
        ],
        past_filter=PUNE,
    )
    html = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert "<dt>Trigger event 1</dt><dd>Charged, where Amount &gt; 1000</dd>" in html
    assert "(1 filters)" not in html
    assert "<dt>Past-behavior filter</dt><dd>City is Pune</dd>" in html
    assert "<dt>Profiles passing the filter now</dt><dd>≈ 1</dd>" in html


def test_publish_section_shows_the_exact_count(marketer_client):
    ProfileFactory.create_batch(3, properties={"City": "Pune"})
    campaign = _rules_campaign(status=Campaign.Status.DRAFT)
    html = marketer_client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'id="publish-audience"' in html and "Exact audience now: <strong>3</strong> profiles." in html


def test_publish_records_the_exact_audience_and_says_it(marketer_client, marketer):
    campaign = campaign_past(members=4, status=Campaign.Status.DRAFT)
    response = marketer_client.post(f"/campaigns/{campaign.pk}/publish/", follow=True)
    html = response.content.decode()
    assert "“Diwali bonus” is Running. Exact audience at publish: 4 profiles." in html
    assert "Exact audience at publish: <strong>4</strong> profiles." in html
    event = CampaignEvent.objects.get(campaign=campaign, action=CampaignEvent.Action.PUBLISHED)
    assert event.details["audience"] == 4 and selectors.campaign_published_audience(campaign) == 4


# Send now starts now ----------------------------------------------------------------------------


def test_publish_send_now_wakes_the_dispatch_after_commit(marketer, monkeypatch, django_capture_on_commit_callbacks):
    woken = []
    monkeypatch.setattr("promotions.tasks.dispatch_due_runs.delay", lambda: woken.append(True))
    campaign = campaign_past()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.campaign_publish(campaign=campaign, actor=marketer)
    assert woken == []  # not before the publish commits
    for callback in callbacks:
        callback()
    assert woken == [True]


def test_publish_for_later_does_not_wake_the_dispatch(marketer, monkeypatch, django_capture_on_commit_callbacks):
    from tests.promotions.helpers import in_future

    woken = []
    monkeypatch.setattr("promotions.tasks.dispatch_due_runs.delay", lambda: woken.append(True))
    campaign = campaign_past(delivery="later", scheduled_at=in_future(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_publish(campaign=campaign, actor=marketer)
    assert woken == []


def test_a_broker_failure_after_publish_is_logged_not_raised(
    marketer, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken():
        raise ConnectionError("broker down")

    monkeypatch.setattr("promotions.tasks.dispatch_due_runs.delay", broken)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.runs.get().status == CampaignRun.Status.PENDING  # the sweep's next tick starts it
    assert "periodic sweep will start the run" in caplog.text


def test_publish_send_now_with_an_eager_worker_distributes_at_once(
    marketer, settings, django_capture_on_commit_callbacks
):
    from config.celery import app

    campaign = campaign_past(members=3)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.campaign_publish(campaign=campaign, actor=marketer)
    finally:
        app.conf.task_always_eager = False
    run = campaign.runs.get()
    assert (run.status, run.total, run.processed, run.granted) == (CampaignRun.Status.COMPLETED, 3, 3, 3)
    assert Profile.objects.count() == 3


def test_detail_page_says_a_due_run_is_starting(marketer_client):
    campaign = campaign_past(status=Campaign.Status.RUNNING)
    from django.utils import timezone

    CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now())
    html = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert "Starting now: counting the audience, then rewards go out in chunks." in html
    assert "0 of 0 processed" not in html
