from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils import timezone

from accounts import access
from accounts.models import WorkerHeartbeat
from config.celery import app as celery_app

BROKER_TIMEOUT_S = 2.0


@access.public
def favicon(request):
    """Browsers ask /favicon.ico of pages that name no icon (the admin's): the app's icon."""
    return redirect(static("favicon.svg"), permanent=True)


def _database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        return {"ok": False, "engine": "postgresql", "error": exc.__class__.__name__}
    return {"ok": True, "engine": "postgresql", "server_version": connection.pg_version}


def _broker_status() -> dict:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            transport = conn.transport_cls
    except Exception as exc:  # kombu raises transport-specific errors
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "transport": str(transport)}


def _worker_status() -> dict:
    beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if beat is None:
        return {"last_heartbeat": None}
    age = (timezone.now() - beat.seen_at).total_seconds()
    return {"last_heartbeat": beat.seen_at.isoformat(), "age_seconds": round(age, 1), "hostname": beat.hostname}


@access.public
def healthz(request):
    """JSON health: 200 when the database and the broker are reachable, else 503."""
    database = _database_status()
    broker = _broker_status()
    body = {"status": "ok" if database["ok"] and broker["ok"] else "fail", "database": database, "broker": broker}
    if database["ok"]:
        body["worker"] = _worker_status()
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


@access.any_signed_in
def home(request):
    return access.redirect_home(request.user)
