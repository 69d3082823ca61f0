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
