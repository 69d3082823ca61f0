"""The periodic sweeps (beat): runs that fell due, partitions whose chunk task was lost, and the
live sweep (due inaction checks, live campaigns' start and end, batches left in the live inbox).

Each is safe to run twice or concurrently: rows are claimed with SKIP LOCKED and every step
re-checks its row's state under its lock.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from promotions.engine import grants, inaction, limits, live, runs
from promotions.models import Campaign, CampaignRun, CampaignRunPartition

C = Campaign
DISPATCH_BATCH = 200
MSG_MISSED = "Missed while the scheduler was down; a later occurrence ran instead."
END_TIME = "Reached its end time"


# --- Runs ------------------------------------------------------------------------------------


def runs_dispatch_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Claim due pending runs (SKIP LOCKED) and start them; returns the ids started.

    Only the latest overdue run of a campaign starts (older ones are cancelled as missed), so
    a scheduler outage runs a missed occurrence once, not once per missed tick. Runs of a
    paused campaign wait; those of a stopped / completed / archived one are cancelled. A run
    due while an earlier run of its campaign is still running waits for it: the runs of a
    campaign never overlap (without "reward again" a run leaves out whom earlier runs rewarded).
    """
    now = now or timezone.now()
    started = []
    with transaction.atomic():
        due = list(
            CampaignRun.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(status=CampaignRun.Status.PENDING, scheduled_for__lte=now)
            .order_by("campaign_id", "-scheduled_for")[:DISPATCH_BATCH]
        )
        busy = set(
            CampaignRun.objects.filter(
                campaign_id__in={run.campaign_id for run in due}, status=CampaignRun.Status.RUNNING
            ).values_list("campaign_id", flat=True)
        )
        seen = set()
        for run in due:
            campaign = run.campaign
            if campaign.status == C.Status.PAUSED or campaign.pk in busy:
                continue
            if campaign.status not in (C.Status.SCHEDULED, C.Status.RUNNING):
                CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.CANCELLED, finished_at=now)
                continue
            if campaign.pk in seen:
                CampaignRun.objects.filter(pk=run.pk).update(
                    status=CampaignRun.Status.CANCELLED, finished_at=now, error=MSG_MISSED
                )
                continue
            seen.add(campaign.pk)
            runs.run_start(run=run, campaign=campaign, now=now)
            started.append(run.pk)
    return started


def runs_recover_stalled(*, now: datetime.datetime | None = None) -> list[int]:
    """Enqueue again the partitions of running runs whose chunk task was lost; returns their runs' ids.

    A partition's chunk task can vanish: a worker killed before it acknowledged (Redis
    redelivers an unacknowledged task only after the visibility timeout, an hour), a broker that
    lost the message, a publish that failed after the commit. A partition not done with no
    heartbeat for RUN_STALL_SECONDS gets a new chunk task. Safe because a chunk is idempotent:
    it locks the partition row and resumes at its cursor, so a late original delivery just finds
    less to do, and a copy of a task that was only slow in the queue ends at once (the chunk
    count it carries has moved). A partition whose chunk is working right now holds its row lock
    and is skipped (SKIP LOCKED); partitions of a paused campaign wait for Resume.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.RUN_STALL_SECONDS)
    with transaction.atomic():
        stalled = list(
            CampaignRunPartition.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(done=False, run__status=CampaignRun.Status.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            .exclude(run__campaign__status=C.Status.PAUSED)
            .order_by("pk")
            .values_list("pk", "run_id", "index", "chunks")[:DISPATCH_BATCH]
        )
        if stalled:
            CampaignRunPartition.objects.filter(pk__in=[row[0] for row in stalled]).update(heartbeat_at=now)
            for _, run_id, index, chunk in stalled:
                transaction.on_commit(lambda r=run_id, i=index, c=chunk: runs.chunk_enqueue(r, i, c))
    return list(dict.fromkeys(row[1] for row in stalled))


# --- Live campaigns ----------------------------------------------------------------------------


def live_campaigns_start_and_end(*, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Scheduled live campaigns whose start came become Running; those past their end, Completed."""
    now = now or timezone.now()
    live_kinds = (C.Qualification.LIVE_ACTION, C.Qualification.LIVE_INACTION)
    started = (
        Campaign.objects.filter(qualification__in=live_kinds, status=C.Status.SCHEDULED, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .update(status=C.Status.RUNNING, updated_at=now)
    )
    ended = 0
    for campaign in Campaign.objects.filter(
        qualification__in=live_kinds,
        status__in=(C.Status.SCHEDULED, C.Status.RUNNING, C.Status.PAUSED),
        ends_at__lte=now,
    ).only("pk"):
        with transaction.atomic():
            locked = grants.lock_campaign(campaign.pk)
            if locked is not None:
                ended += limits.campaign_complete(campaign=locked, reason=END_TIME, now=now)
    return started, ended


def live_sweep(*, now: datetime.datetime | None = None) -> dict:
    """The beat job: due inaction checks first (they were earned before any end), then start /
    end, then any batch still waiting in the inbox (its task was lost)."""
    now = now or timezone.now()
    checks = inaction.inaction_checks_process(now=now)
    started, ended = live_campaigns_start_and_end(now=now)
    drained = live.inbox_drain()
    return {"checks": checks, "started": started, "ended": ended, "batches": drained["batches"]}
