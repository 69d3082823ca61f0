"""Replacing a custom list in use, lists not processed yet, the header count (issue #16, SPEC 2.3)."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from promotions import catalogue
from promotions.models import Campaign
from segments import services
from segments.models import CustomList, CustomListMember, CustomListUpload
from tests.promotions.factories import CustomListFactory, SegmentFactory
from tests.promotions.helpers import HTMX, campaign_live, campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db
S = Campaign.Status


def _file(content=b"Type,Identity\ni,u1\n"):
    return SimpleUploadedFile("list.csv", content, content_type="text/csv")


def _in_list(custom_list, op="in_custom_list"):
    return {"op": "and", "rules": [{"type": op, "custom_list_id": custom_list.pk}]}


def _processed_list(name="VIP", settings=None) -> CustomList:
    custom_list = CustomListFactory(name=name)
    CustomListUpload.objects.create(custom_list=custom_list, status=CustomListUpload.Status.COMPLETED)
    return custom_list


def _refused(custom_list) -> str:
    with pytest.raises(ValidationError) as exc:
        services.custom_list_upload_start(uploaded_file=_file(), actor=None, custom_list=custom_list)
    [message] = exc.value.message_dict["file"]
    return message


def test_refused_for_a_running_campaign_on_the_list_itself():
    vip = _processed_list()
    campaign_past(name="Diwali bonus", custom_list=vip, status=S.RUNNING)
    assert _refused(vip) == services.ERR_LIST_IN_USE.format(names="Diwali bonus")


def test_refused_for_campaign_rules_and_live_filters_using_in_or_not_in_the_list():
    vip = _processed_list()
    campaign_past(
        name="Rules",
        audience_source="rules",
        custom_list=None,
        qualification="past_behavior",
        rules=_in_list(vip, "not_in_custom_list"),
        status=S.SCHEDULED,
    )
    campaign_live(name="Live", past_filter=_in_list(vip), status=S.RUNNING)
    campaign_past(name="Stopped one", custom_list=vip, status=S.STOPPED)  # not in use
    assert _refused(vip) == services.ERR_LIST_IN_USE.format(names="Live, Rules")


def test_refused_for_campaigns_on_segments_that_use_the_list_even_through_another_segment():
    vip = _processed_list()
    inner = SegmentFactory(name="VIP users", rules=_in_list(vip))
    outer = SegmentFactory(
        name="VIP in Pune", rules={"op": "and", "rules": [{"type": "in_segment", "segment_id": inner.pk}]}
    )
    campaign_past(name="Pune", audience_source="segment", segment=outer, custom_list=None, status=S.RUNNING)
    assert _refused(vip) == services.ERR_LIST_IN_USE.format(names="Pune through segment VIP in Pune")


def test_a_campaign_published_while_the_upload_ran_stops_the_swap(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    ProfileFactory(identity="u1")
    vip = _processed_list()
    keep = ProfileFactory(identity="old")
    CustomListMember.objects.create(custom_list=vip, profile=keep)
    with django_capture_on_commit_callbacks(execute=False):
        started = services.custom_list_upload_start(uploaded_file=_file(), actor=None, custom_list=vip)
    campaign_past(name="Published meanwhile", custom_list=vip, status=S.RUNNING)
    done = services.custom_list_process(upload_id=started.pk)
    assert done.status == CustomListUpload.Status.FAILED
    assert done.error == services.ERR_LIST_IN_USE.format(names="Published meanwhile")
    assert list(vip.members.values_list("profile__identity", flat=True)) == ["old"]  # nothing swapped


def test_a_list_still_processing_its_first_upload_is_not_offered_to_campaigns(marketer_client):
    ready = CustomListFactory(name="Ready")  # created without an upload (kept as before)
    processed = _processed_list("Processed")
    fresh = CustomListFactory(name="Fresh")
    CustomListUpload.objects.create(custom_list=fresh, status=CustomListUpload.Status.IN_PROGRESS)
    assert list(catalogue.custom_lists()) == [processed, ready]
    campaign = campaign_past(status=S.DRAFT, who_complete=False, custom_list=None, members=0)
    html = marketer_client.post(
        f"/campaigns/{campaign.pk}/edit/who/?refresh=1", {"audience_source": "custom_list"}, **HTMX
    ).content.decode()
    assert "Processed" in html and "Fresh" not in html
    response = marketer_client.post(
        f"/campaigns/{campaign.pk}/edit/who/", {"audience_source": "custom_list", "custom_list": fresh.pk}, **HTMX
    )
    assert "Choose the custom list among those offered: the one sent is not available." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.custom_list is None


def test_list_page_header_count_follows_the_upload_when_processing_ends(marketer_client):
    vip = CustomListFactory(name="VIP", size=0)
    upload = CustomListUpload.objects.create(custom_list=vip, status=CustomListUpload.Status.IN_PROGRESS)
    html = marketer_client.get(vip.get_absolute_url(), **HTMX).content.decode()
    assert 'id="custom-list-size" hx-swap-oob="true">0 profiles · processing an upload…' in html
    CustomList.objects.filter(pk=vip.pk).update(size=1234)
    CustomListUpload.objects.filter(pk=upload.pk).update(status=CustomListUpload.Status.COMPLETED)
    html = marketer_client.get(vip.get_absolute_url(), **HTMX).content.decode()
    assert 'id="custom-list-size" hx-swap-oob="true">1,234 profiles</p>' in html
    assert 'hx-trigger="every 2s"' not in html and "<html" not in html
