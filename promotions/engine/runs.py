"""Runs of past-behaviour / custom-list campaigns (SPEC 6.1–6.3): partitions and their chunks.

- `run_start` (from the beat job `sweeps.runs_dispatch_due`): a claimed pending run marked
  running, cut into partitions (ranges of profile ids at the audience's quantiles), the next
  recurring run planned, and `promotions.run_distribute` woken once per partition after commit
  (the partition rows are the record of the work owed: `sweeps.runs_recover_stalled` re-sends a
  chunk whose wake-up was lost).
- `run_distribute_chunk`: one chunk of one partition in one transaction: keyset page of the
  audience in the partition's range (profile id > partition.cursor), its rewards and grants
  (`grants.reward_profiles`: one bulk catalogue call, one bulk grant insert), the partition's
  counters moved. Partitions of a run go in parallel on any number of workers (the locking is
  described at "Runs" below).
- `runs_cancel` / `runs_resume` / `campaign_gate_exclusive`: what Stop, Resume and Pause call.

Idempotency: the partition row is locked for the whole chunk (two deliveries of the same task
serialise and the second sees the moved cursor), grants are unique per (campaign, profile,
occurrence), and every catalogue bulk service is idempotent per (campaign, profile, occurrence).
A crash inside a chunk rolls back the catalogue writes, the grants and the cursor together.
A chunk task lost with its worker is re-enqueued by `sweeps.runs_recover_stalled` (partition heartbeat).
"""

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts import outbox
from accounts.account import account_tzinfo
from promotions import catalogue, schedule
from promotions.engine import grants
from promotions.models import Campaign, CampaignRun, CampaignRunPartition, Grant
from segments import selectors as segment_selectors

C = Campaign

MORE, DONE, HALTED = "more", "done", "halted"
RUN_TASK = "promotions.run_distribute"
# pg advisory lock key space of the campaign gate (campaign_gate_shared / _exclusive).
GATE_SPACE = 18_018
MSG_CODES_OUT = "Codes ran out: the remaining profiles of this run got no code."
END_DONE = "Distribution finished"
END_NO_RUNS = "The recurring schedule has ended"


def occurrence_for_run(run_id: int) -> str:
    return f"run:{run_id}"


# --- Runs -----------------------------------------------------------------------------------
#
# A run is split into partitions (CampaignRunPartition): ranges of profile ids cut at the
# audience's quantiles when the run starts, each with its own cursor, counters and heartbeat,
# each its own chain of chunk tasks. Any worker takes any partition's next chunk, so a run uses
# as many workers as it has partitions. Locks, always taken in this order:
#
#   1. the partition row, FOR UPDATE: two deliveries of one partition's chunk serialise, and the
#      second finds the moved cursor (or the partition done);
#   2. the campaign gate (a shared transaction-level advisory lock) and the campaign row FOR
#      SHARE: chunks of every partition run side by side, while Pause / Stop / Archive take the
#      gate exclusively and then update the row, so they wait for the chunks in flight and no
#      chunk starts after they commit (it reads the campaign's status under its share lock). The
#      gate is a heavyweight lock, fair to a waiting Pause; row share locks alone would let a
#      stream of overlapping chunks starve its UPDATE;
#   3. only when its partition is done: the run row, FOR NO KEY UPDATE, to ask "was that the last
#      partition?" once the others' answers are committed — so exactly one partition finishes the
#      run, adding the partitions' counters into the run and the campaign rows.
#
# No chunk writes a row another partition's chunk writes: grants, lots and codes are per
# profile, and the counters are per partition (summed where they are read: selectors).


def _audience(campaign: Campaign, run: CampaignRun, partition: CampaignRunPartition):
    """Profile ids of the partition's audience still to do, in id order (keyset from its cursor)."""
    rules = catalogue.audience_rules(campaign)
    if rules is None:
        return None
    ids = segment_selectors.segment_profile_ids(rules=rules, after=partition.cursor)
    if partition.end is not None:
        ids = ids.filter(id__lte=partition.end)
    # Without "reward again", leave out profiles an earlier run rewarded; asked only when an
    # earlier run gave anything (the counters of finished runs: runs of a campaign do not
    # overlap), so a one-time campaign's chunks never scan the campaign's grants.
    if not campaign.reward_again and campaign.runs.filter(granted__gt=0).exclude(pk=run.pk).exists():
        earlier = Grant.objects.filter(campaign=campaign, granted=True).exclude(occurrence=occurrence_for_run(run.pk))
        ids = ids.exclude(id__in=earlier.values("profile_id"))
    return ids.order_by("id").values_list("id", flat=True)


def chunk_enqueue(run_id: int, partition: int | None = None, chunk: int | None = None) -> None:
    """Wake the next chunk of a run's partition (by index; None: any partition still owed);
    `chunk`: the partition's count of chunks committed that the task expects (see _partition_chunk).

    Only a wake-up call: the partition row (not done, cursor, heartbeat) is the durable record
    of the work owed, and `sweeps.runs_recover_stalled` re-sends a chunk whose task never came, so a
    broker failure here is logged, never raised to the caller."""
    args = (run_id,) if partition is None else (run_id, partition) if chunk is None else (run_id, partition, chunk)
    outbox.outbox_wake(topic=RUN_TASK, args=args)


def campaign_gate_shared(campaign_id: int) -> None:
    """Hold the campaign for a chunk until the transaction ends: the gate shared, the row FOR SHARE."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s); SELECT 1 FROM promotions_campaign WHERE id = %s FOR SHARE",
            [GATE_SPACE, campaign_id % 2**31, campaign_id],
        )


def campaign_gate_exclusive(campaign_id: int) -> None:
    """Before a status change that must stop a run (Pause, Stop, Archive): wait for the chunks in
    flight and keep new ones out until the transaction ends. Call inside the transaction, before
    the campaign row's UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [GATE_SPACE, campaign_id % 2**31])


def run_distribute_chunk(
    *, run_id: int, partition: int | None = None, chunk: int | None = None, chunk_size: int | None = None
) -> str:
    """Distribute the next chunk of one partition of a running run.

    With `partition` (its index): MORE (that partition has more), DONE (it is finished, or the
    run is, or — with `chunk`, the partition's count of chunks committed the task was sent for —
    another copy of this task already ran it) or HALTED (paused). Without: the chunk of the first
    partition still owed, and MORE until the whole run is done — one caller looping on it drives
    the run alone (tests, a chunk task queued before partitions existed).
    """
    if partition is not None:
        return _partition_chunk(run_id, partition, chunk_size, chunk)
    owed = (
        CampaignRunPartition.objects.filter(run_id=run_id, done=False, run__status=CampaignRun.Status.RUNNING)
        .order_by("index")
        .values_list("index", flat=True)
        .first()
    )
    if owed is None:
        return DONE
    outcome = _partition_chunk(run_id, owed, chunk_size, None)
    if outcome in (HALTED, MORE):
        return outcome
    running = CampaignRun.objects.filter(pk=run_id, status=CampaignRun.Status.RUNNING).exists()
    return MORE if running else DONE


def _partition_chunk(run_id: int, index: int, chunk_size: int | None, chunk: int | None) -> str:
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    with transaction.atomic():
        part = (
            CampaignRunPartition.objects.select_for_update(of=("self",))
            .select_related("run")
            .filter(run_id=run_id, index=index)
            .first()
        )
        if part is None or part.done or (chunk is not None and chunk != part.chunks):
            return DONE  # finished, or a copy of a task that already ran: its chain goes on elsewhere
        campaign_id = part.run.campaign_id
        campaign_gate_shared(campaign_id)
        # Read after the share lock: a Pause / Stop committed before it is seen here.
        run = CampaignRun.objects.get(pk=run_id)
        if run.status != CampaignRun.Status.RUNNING:
            return DONE
        campaign = Campaign.objects.select_related("wallet", "coupon", "voucher_list").get(pk=campaign_id)
        if campaign.status == C.Status.PAUSED:
            return HALTED
        if campaign.status != C.Status.RUNNING:
            # Stop settles its running runs itself; a run left running by any other way out of
            # Running is cancelled here. SKIP LOCKED: another partition settling it holds the row.
            _run_settle(run_id, campaign_id, CampaignRun.Status.CANCELLED, wait=False)
            return DONE
        audience = _audience(campaign, run, part)
        # One row past the chunk says whether the partition goes on: its last chunk ends it in
        # the same task instead of leaving an empty task to find nothing (a broker round trip).
        ids = list(audience[: chunk_size + 1]) if audience is not None else []
        more = len(ids) > chunk_size
        del ids[chunk_size:]
        if not ids:
            _partition_done(part, campaign)
            return DONE
        occurrence = occurrence_for_run(run_id)
        new, granted, exhausted = grants.reward_profiles(
            campaign=campaign, profile_ids=ids, occurrence=occurrence, run=run
        )
        update = {
            "processed": F("processed") + new,
            "granted": F("granted") + granted,
            "rewarded": F("rewarded") + _first_time_rewarded(campaign, occurrence, ids, granted),
            "cursor": ids[-1],
            "chunks": F("chunks") + 1,
            "heartbeat_at": timezone.now(),
        }
        if exhausted:
            update["error"] = MSG_CODES_OUT
        CampaignRunPartition.objects.filter(pk=part.pk).update(**update)
        if not more:
            _partition_done(part, campaign)
            return DONE
    return MORE


def _first_time_rewarded(campaign: Campaign, occurrence: str, profile_ids: list[int], granted: int) -> int:
    """How many of the `granted` rewards of `occurrence` went to a profile the campaign never rewarded before.

    Campaign.rewarded_profiles counts profiles, not rewards: with "reward again on later runs" a
    profile rewarded on an earlier run is already counted. One query. The partitions of a run
    hold disjoint profiles and the runs of a campaign do not overlap (runs_dispatch_due), so no
    two chunks count the same profile.
    """
    if not granted or not campaign.reward_again:
        # Without "reward again" the audience already left out every profile rewarded before.
        return granted
    earlier = Grant.objects.filter(campaign=campaign, granted=True, profile_id__in=profile_ids).exclude(
        occurrence=occurrence
    )
    return (
        Grant.objects.filter(campaign=campaign, occurrence=occurrence, granted=True, profile_id__in=profile_ids)
        .exclude(profile_id__in=earlier.values("profile_id"))
        .count()
    )


def _partition_done(part: CampaignRunPartition, campaign: Campaign) -> None:
    """Mark the partition done; if it was the run's last, finish the run (exactly once)."""
    CampaignRunPartition.objects.filter(pk=part.pk).update(done=True, heartbeat_at=timezone.now())
    # Wait for the run row: a partition finishing at the same moment asks the same question, and
    # whichever asks second (a fresh snapshot once the lock is granted) sees the other done.
    run = CampaignRun.objects.select_for_update(no_key=True).filter(pk=part.run_id).first()
    if run is None or run.status != CampaignRun.Status.RUNNING:
        return
    if CampaignRunPartition.objects.filter(run_id=run.pk, done=False).exists():
        return
    _run_settle(run.pk, campaign.pk, CampaignRun.Status.COMPLETED, locked=True)
    _finish(run, campaign)


def _run_settle(run_id: int, campaign_id: int, status: str, *, wait: bool = True, locked: bool = False) -> bool:
    """End a running run as `status`, adding its partitions' counters into the run row and the
    campaign's profiles rewarded; once (the run row's status is the guard). False: not running
    (or, with wait=False, another transaction holds it)."""
    if not locked:
        run = (
            CampaignRun.objects.select_for_update(no_key=True, skip_locked=not wait)
            .filter(pk=run_id, status=CampaignRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return False
    sums = CampaignRunPartition.objects.filter(run_id=run_id).aggregate(
        processed=Coalesce(Sum("processed"), 0),
        granted=Coalesce(Sum("granted"), 0),
        rewarded=Coalesce(Sum("rewarded"), 0),
        codes_out=Count("pk", filter=Q(error=MSG_CODES_OUT)),
    )
    update = {
        "status": status,
        "finished_at": timezone.now(),
        "processed": F("processed") + sums["processed"],
        # The audience was counted at the start; profiles that joined since are processed
        # too, so the total grows with them and the progress never passes 100 %.
        "total": Greatest(F("total"), F("processed") + sums["processed"]),
        "granted": F("granted") + sums["granted"],
        "rewarded": F("rewarded") + sums["rewarded"],
    }
    if sums["codes_out"]:
        update["error"] = MSG_CODES_OUT
    updated = CampaignRun.objects.filter(pk=run_id, status=CampaignRun.Status.RUNNING).update(**update)
    if updated and sums["rewarded"]:
        Campaign.objects.filter(pk=campaign_id).update(rewarded_profiles=F("rewarded_profiles") + sums["rewarded"])
    return bool(updated)


def _finish(run: CampaignRun, campaign: Campaign) -> None:
    """The run completed: a one-time campaign is done; a recurring one when its schedule has ended."""
    now = timezone.now()
    if campaign.delivery == C.Delivery.RECURRING:
        if campaign.runs.filter(status__in=(CampaignRun.Status.PENDING, CampaignRun.Status.RUNNING)).exists():
            return
        reason = END_NO_RUNS
    else:
        reason = END_DONE
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.RUNNING).update(
        status=C.Status.COMPLETED, end_reason=reason, updated_at=now
    )


def runs_cancel(*, campaign: Campaign) -> None:
    """Stop: cancel the campaign's running runs, their counters settled. Call in the Stop's
    transaction after its gate and UPDATE (no chunk is in flight: every partition's count is final)."""
    for run_id in campaign.runs.filter(status=CampaignRun.Status.RUNNING).values_list("pk", flat=True):
        _run_settle(run_id, campaign.pk, CampaignRun.Status.CANCELLED)


def partition_bounds(*, rules: dict, total: int, chunk_size: int | None = None) -> list[int]:
    """The profile ids that cut a run's audience into partitions of about equal size (ascending).

    As many partitions as keep every one at least a chunk long, at most RUN_PARTITIONS: one
    query (the audience's quantiles) when there is more than one partition, none otherwise.
    """
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    count = max(1, min(settings.RUN_PARTITIONS, total // max(1, chunk_size)))
    if count == 1:
        return []
    audience = segment_selectors.segment_profile_ids(rules=rules)
    sql, params = audience.query.sql_with_params()
    fractions = [k / count for k in range(1, count)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY a.id) FROM ({sql}) AS a",  # noqa: S608
            [fractions, *params],
        )
        cuts = cursor.fetchone()[0] or []
    return sorted({cut for cut in cuts if cut is not None})


def run_start(*, run: CampaignRun, campaign: Campaign, now: datetime.datetime) -> None:
    """Mark a claimed pending run running (audience counted now), cut it into partitions, wake a
    chunk task per partition after commit, plan the next recurring run."""
    rules = catalogue.audience_rules(campaign)
    total = segment_selectors.audience_count(rules=rules) if rules is not None else 0
    cuts = partition_bounds(rules=rules, total=total) if rules is not None else []
    starts, ends = [0, *cuts], [*cuts, None]
    CampaignRunPartition.objects.bulk_create(
        CampaignRunPartition(run=run, index=i, start=start, end=end, cursor=start, heartbeat_at=now)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    )
    CampaignRun.objects.filter(pk=run.pk).update(
        status=CampaignRun.Status.RUNNING, started_at=now, heartbeat_at=now, total=total
    )
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.SCHEDULED).update(status=C.Status.RUNNING, updated_at=now)
    if campaign.delivery == C.Delivery.RECURRING:
        after = max(now, run.scheduled_for)
        upcoming = schedule.campaign_next_occurrence(campaign, tz=account_tzinfo(), after=after, inclusive=False)
        if upcoming is not None:
            CampaignRun.objects.get_or_create(campaign=campaign, scheduled_for=upcoming)
    for index in range(len(starts)):
        transaction.on_commit(lambda index=index: chunk_enqueue(run.pk, index, 0))


def runs_resume(*, campaign: Campaign) -> None:
    """After Resume: continue every partition of the campaign's runs that the pause halted."""
    owed = CampaignRunPartition.objects.filter(
        run__campaign=campaign, run__status=CampaignRun.Status.RUNNING, done=False
    )
    chains = list(owed.order_by("run_id", "index").values_list("run_id", "index", "chunks"))
    owed.update(heartbeat_at=timezone.now())  # a fresh task is on its way: not stalled
    for run_id, index, chunk in chains:
        transaction.on_commit(lambda run_id=run_id, index=index, chunk=chunk: chunk_enqueue(run_id, index, chunk))
