from celery import shared_task
from django.conf import settings

from wallets import services


@shared_task(name="wallets.lots_activate_due")
def lots_activate_due() -> int:
    """Beat, every minute: write ACTIVATED rows for lots whose activation time has come."""
    return services.lots_activate_due(sweeps=settings.LIFECYCLE_SWEEPS)


@shared_task(name="wallets.lots_expire_due")
def lots_expire_due() -> int:
    """Beat, every minute: write EXPIRED rows for lots past their expiry."""
    return services.lots_expire_due(sweeps=settings.LIFECYCLE_SWEEPS)


@shared_task(name="wallets.points_expiring_digest", acks_late=True, reject_on_worker_lost=True)
def points_expiring_digest() -> int:
    """Beat, hourly: the daily `points.expiring` webhook digest (once per wallet and local day)."""
    return services.points_expiring_digest()


@shared_task(name="wallets.lot_rollup_compact")
def lot_rollup_compact() -> int:
    """Beat, hourly: merge the lot rollup's settled rows (expired, or active for good)."""
    return services.lot_rollup_compact()
