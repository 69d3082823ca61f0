"""Celery tasks of the campaign engine (`promotions.engine`): take ids, safe to run twice, acks_late."""

from celery import shared_task

from promotions import forecast
from promotions.engine import live, runs, sweeps


@shared_task(name="promotions.dispatch_due_runs", acks_late=True, reject_on_worker_lost=True)
def dispatch_due_runs() -> int:
    """Start the due runs, then re-enqueue running runs whose chunk task was lost."""
    started = sweeps.runs_dispatch_due()
    sweeps.runs_recover_stalled()
    return len(started)


@shared_task(name="promotions.run_distribute", acks_late=True, reject_on_worker_lost=True)
def run_distribute(run_id: int, partition: int | None = None, chunk: int | None = None) -> str:
    """One chunk of a run's partition, then that partition's next chunk as a new task (a restart
    resumes at the partition's cursor). Each partition is its own chain: any worker takes any
    of them. `chunk`: the partition's chunks committed so far, when sent (a copy of a task that
    already ran ends at once). `partition` None (tasks queued before partitions): the first
    partition still owed."""
    outcome = runs.run_distribute_chunk(run_id=run_id, partition=partition, chunk=chunk)
    if outcome == runs.MORE:
        runs.chunk_enqueue(run_id, partition, None if chunk is None else chunk + 1)
    return outcome


# A batch that lost a race on a counter (limits.LimitRace: rolled back, nothing given) or was
# picked as a deadlock victim is simply run again; its grants are unique per event.
_LIVE_RETRY = {"autoretry_for": live.RETRYABLE, "retry_backoff": 1, "max_retries": 5}


@shared_task(name="promotions.live_events", acks_late=True, reject_on_worker_lost=True, **_LIVE_RETRY)
def live_events(event_ids: list[int] | None = None) -> dict:
    """Match the batches waiting in the live inbox (the outbox topic of this task's name): a
    wake-up sent while an earlier task was still matching usually finds its batch already done.
    `event_ids` is accepted from tasks queued before the outbox, and ignored."""
    return live.inbox_drain()


@shared_task(name="promotions.live_sweep", acks_late=True, reject_on_worker_lost=True, **_LIVE_RETRY)
def live_sweep() -> dict:
    """Due inaction checks, live campaigns' start and end (every 30 s from beat)."""
    return sweeps.live_sweep()


@shared_task(name="promotions.forecast_run", acks_late=True, reject_on_worker_lost=True)
def forecast_run(forecast_id: int) -> str:
    """Compute one on-demand forecast (issue #21) and store it on its progress row."""
    return forecast.forecast_run(forecast_id=forecast_id)


@shared_task(name="promotions.outcomes_refresh_due", acks_late=True, reject_on_worker_lost=True)
def outcomes_refresh_due() -> int:
    """Refresh the outcome reports of campaigns with a goal (beat, every 15 minutes)."""
    from promotions import outcomes

    return len(outcomes.outcomes_refresh_due())
