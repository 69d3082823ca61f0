from celery import current_app, shared_task

from webhooks import services


@shared_task(name="webhooks.deliver_due", acks_late=True, reject_on_worker_lost=True)
def deliver_due() -> int:
    """Beat (every 5 s) and wake-ups: send alert e-mails, build events bulk writers left pending, and
    start a deliverer per endpoint with due events."""
    services.notifications_email()
    services.events_expand()
    due = services.endpoints_due()
    for endpoint_id in due:
        current_app.send_task(services.TASK_DELIVER_ENDPOINT, args=[endpoint_id])
    return len(due)


@shared_task(name="webhooks.deliver_endpoint", acks_late=True, reject_on_worker_lost=True)
def deliver_endpoint(endpoint_id: int) -> int:
    """POST the endpoint's due events (retries are due times in the database, never Celery eta)."""
    return services.endpoint_deliver(endpoint_id=endpoint_id)
