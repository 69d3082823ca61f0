"""A campaign published while its custom list is being replaced (SPEC 2.3, issue #16): real
concurrent transactions on PostgreSQL."""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from promotions import services as campaign_services
from promotions.models import Campaign
from segments import services
from segments.models import CustomListMember, CustomListUpload
from tests.factories import UserFactory
from tests.promotions.factories import CustomListFactory
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_swap_waiting_on_a_publish_sees_the_published_campaign_and_refuses(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(campaign_services, "_dispatch_now", lambda: None)
    actor = UserFactory()
    vip = CustomListFactory(name="VIP")
    CustomListUpload.objects.create(custom_list=vip, status=CustomListUpload.Status.COMPLETED)
    old = ProfileFactory(identity="old")
    CustomListMember.objects.create(custom_list=vip, profile=old)
    ProfileFactory(identity="new")
    upload = services.custom_list_upload_start(
        uploaded_file=SimpleUploadedFile("l.csv", b"Type,Identity\ni,new\n"), actor=None, custom_list=vip
    )
    campaign = campaign_past(name="Diwali bonus", custom_list=vip, status=Campaign.Status.DRAFT, members=0)

    outcome = {}

    def swap():
        try:
            outcome["upload"] = services.custom_list_process(upload_id=upload.pk)
        finally:
            connection.close()

    with transaction.atomic():
        campaign_services.campaign_publish(campaign=campaign, actor=actor)  # holds the list's row lock
        worker = threading.Thread(target=swap)
        worker.start()
        time.sleep(0.7)
        assert worker.is_alive(), "the swap must wait for the publish to commit"
    worker.join(timeout=20)

    done = outcome["upload"]
    assert done.status == CustomListUpload.Status.FAILED
    assert done.error == services.ERR_LIST_IN_USE.format(names="Diwali bonus")
    assert list(vip.members.values_list("profile__identity", flat=True)) == ["old"]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
