"""End to end: a real Celery worker and beat on Redis run a send-now campaign to completion."""

import pytest
from django.apps import apps

from core.beat import periodic_task_ensure
from promotions import services
from promotions.models import Campaign, CampaignRun, Grant
from tests import harness
from tests.promotions.helpers import campaign_past
from wallets.models import Lot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_beat_dispatches_a_send_now_campaign_and_the_worker_completes_it():
    # The flush between transactional tests empties the beat tables; put the entry back, ticking fast.
    periodic_task_ensure(
        apps, name="promotions: dispatch due campaign runs", task="promotions.dispatch_due_runs", every_seconds=1
    )
    harness.purge_redis(harness.redis_url())
    campaign = campaign_past(members=4)
    services.campaign_publish(campaign=campaign, actor=None)
    with harness.celery_process("worker"), harness.celery_process("beat", extra_args=("--max-interval=1",)):
        harness.wait_for(
            lambda: Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.COMPLETED).exists(),
            timeout=90,
            what="the campaign to complete",
        )
    run = CampaignRun.objects.get(campaign=campaign)
    assert (run.status, run.total, run.processed, run.granted) == ("completed", 4, 4, 4)
    assert Lot.objects.filter(campaign=campaign, occurrence=f"run:{run.pk}").count() == 4
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 4
