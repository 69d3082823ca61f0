"""Webhook endpoints, event recording, signed delivery with retries, and alerts for people (SPEC 12)."""

import base64
import datetime
import http.client
import ipaddress
import json
import logging
import random
import re
import secrets
import socket
import time
import urllib.parse

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts import outbox
from webhooks.models import (
    EventType,
    Notification,
    PendingEvents,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger(__name__)

TASK_DELIVER = "webhooks.deliver_due"
TASK_DELIVER_ENDPOINT = "webhooks.deliver_endpoint"

ERR_SCHEME = "Only http and https URLs can receive webhooks."
ERR_PRIVATE = (
    "{host} resolves to {address}, a private or loopback address; add it to WEBHOOK_ALLOWED_HOSTS to allow it."
)
ERR_RESOLVE = "{host} does not resolve."
ERR_EVENT_TYPES = "Unknown event type(s): {types}. Known: {known}."
ERR_NO_EVENT_TYPES = "Choose at least one event type."

SECRET_OVERLAP = datetime.timedelta(hours=24)


# --- Endpoints ---------------------------------------------------------------------------------


def secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def event_types_clean(types) -> list[str]:
    types = [t.strip() for t in types if t and t.strip()]
    unknown = sorted(set(types) - set(EventType.values))
    if unknown:
        raise ValidationError(ERR_EVENT_TYPES.format(types=", ".join(unknown), known=", ".join(EventType.values)))
    if not types:
        raise ValidationError(ERR_NO_EVENT_TYPES)
    return sorted(set(types), key=EventType.values.index)


def _allowed(host: str, address: ipaddress._BaseAddress) -> bool:
    for entry in settings.WEBHOOK_ALLOWED_HOSTS:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def url_check(url: str, *, resolve: bool = True) -> list[str]:
    """Refuse non-http(s) URLs and, when WEBHOOK_BLOCK_PRIVATE (production), hosts any of whose
    addresses is private, loopback, link-local or reserved unless allow-listed; returns the
    addresses (checked at creation and again before every POST, since DNS can change)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError(ERR_SCHEME)
    if not resolve:
        return []
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise ValidationError(ERR_RESOLVE.format(host=host)) from exc
    addresses = sorted({info[4][0] for info in infos})
    if settings.WEBHOOK_BLOCK_PRIVATE:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            if not address.is_global and not _allowed(host, address):
                raise ValidationError(ERR_PRIVATE.format(host=host, address=text))
    return addresses


def endpoint_create(
    *, url: str, event_types, description: str = "", batch_size: int = 1
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once)."""
    url_check(url, resolve=settings.WEBHOOK_BLOCK_PRIVATE)
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        description=description,
        event_types=event_types_clean(event_types),
        batch_size=batch_size,
        secret=secret,
    )
    return endpoint, secret


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing beside it for 24 h so receivers can switch."""
    secret = secret_new()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            previous_secret=endpoint.secret, previous_secret_expires_at=timezone.now() + SECRET_OVERLAP, secret=secret
        )
    endpoint.refresh_from_db()
    return secret


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True, failing_since=None, disabled_reason="")


# --- Recording events ---------------------------------------------------------------------------


def events_record(*, type: str, payloads: list[dict]) -> int:
    """Record events of `type` in the current transaction (one statement for all of them), only
    when an active endpoint subscribes; returns the deliveries created."""
    if not payloads:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhooks_emit(%s, %s::jsonb[])",
            [type, [json.dumps(p, default=str) for p in payloads]],
        )
        created = cursor.fetchone()[0]
    if created:
        transaction.on_commit(wake)
    return created


_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def events_expand(*, budget_seconds: float = 30) -> int:
    """Build the events that bulk writers' triggers left as one row per statement
    (PendingEvents), each row in its own transaction with the events and deliveries it makes;
    returns the events built."""
    built, deadline = 0, time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            row = PendingEvents.objects.select_for_update(skip_locked=True).order_by("pk").first()
            if row is None:
                break
            if _FUNCTION_NAME.match(row.function):
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT webhooks_emit(%s, ARRAY(SELECT {row.function}(%s::bigint[])))",  # noqa: S608 (checked name)
                        [row.type, row.ids],
                    )
                built += len(row.ids)
            else:
                log.error("Pending events %s name an invalid function %r; dropped", row.pk, row.function)
            row.delete()
    return built


def wake() -> None:
    outbox.outbox_wake(topic=TASK_DELIVER)


def delivery_resend(*, deliveries) -> int:
    """Send these deliveries again now (delivered or failed ones too): the Resend button."""
    return WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
    )


# --- Delivery ------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones (with ±20 % jitter), None when
    the schedule (WEBHOOK_RETRY_SCHEDULE, about a day by default) is used up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


def _signatures(endpoint: WebhookEndpoint, msg_id: str, when: datetime.datetime, body: str) -> str:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > when:
        keys.append(endpoint.previous_secret)
    return " ".join(Webhook(key).sign(msg_id, when, body) for key in keys)


def envelope(event: WebhookEvent) -> dict:
    return {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload}


def _claim(endpoint: WebhookEndpoint, now: datetime.datetime, after) -> list[WebhookDelivery]:
    """Lock up to batch_size due deliveries, oldest due first, after `after` = (next_attempt_at,
    id) of the previous batch: the keyset walks past the index entries of rows just delivered
    (dead until vacuum) instead of re-reading them for every batch. SKIP LOCKED: another worker's
    batch is not waited for. The locks are held over the POST, so a crash leaves them due."""
    keyset = "AND (next_attempt_at, id) > (%s, %s)" if after else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM webhooks_webhookdelivery
            WHERE endpoint_id = %s AND status = 'pending' AND next_attempt_at <= %s {keyset}
            ORDER BY next_attempt_at, id
            LIMIT %s
            FOR UPDATE SKIP LOCKED
            """,  # noqa: S608 (constant fragments)
            [endpoint.pk, now, *(after or ()), endpoint.batch_size],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    return list(WebhookDelivery.objects.filter(pk__in=ids).select_related("event").order_by("next_attempt_at", "pk"))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host, port, *, address: str | None, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        if self._address is None:
            return super().connect()
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        return None


def _post(endpoint: WebhookEndpoint, body: bytes, headers: dict) -> tuple[int | None, str]:
    """POST; (status, start of the response) or (None, error). The host is resolved and checked
    again here (SSRF), and in the production profile the connection goes to the address checked."""
    try:
        addresses = url_check(endpoint.url)
    except ValidationError as exc:
        return None, exc.messages[0]
    parts = urllib.parse.urlsplit(endpoint.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    # With the SSRF check on, connect to the address just checked (TLS still verifies the host
    # name), so a DNS answer changing in between cannot point the POST elsewhere.
    pinned = addresses[0] if settings.WEBHOOK_BLOCK_PRIVATE else None
    # The port always given: http.client would read an IPv6 address's last group as one.
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        conn = _PinnedHTTPSConnection(parts.hostname, port, address=pinned, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(pinned or parts.hostname, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={**headers, "Host": parts.netloc})
        response = conn.getresponse()
        text = response.read(500).decode("utf-8", "replace")
        return response.status, text
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    finally:
        conn.close()


def endpoint_deliver_once(*, endpoint: WebhookEndpoint, now: datetime.datetime | None = None, after=None) -> int:
    """Claim and POST one batch of due deliveries for the endpoint; returns how many were sent
    (0 when nothing was due). `after`: the keyset of the previous batch (endpoint_deliver)."""
    events_expand()
    return _deliver_batch(endpoint=endpoint, now=now or timezone.now(), after=after)[0]


def _deliver_batch(*, endpoint: WebhookEndpoint, now: datetime.datetime, after) -> tuple[int, tuple | None]:
    with transaction.atomic():
        deliveries = _claim(endpoint, now, after)
        if not deliveries:
            return 0, None
        events = [d.event for d in deliveries]
        if endpoint.batch_size > 1:
            body = json.dumps([{"id": e.msg_id, **envelope(e)} for e in events], default=str)
            msg_id = f"batch_{events[0].pk}_{events[-1].pk}_{len(events)}"
        else:
            body = json.dumps(envelope(events[0]), default=str)
            msg_id = events[0].msg_id
        sent_at = timezone.now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PromoCampaigns-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": _signatures(endpoint, msg_id, sent_at, body),
        }
        started = time.monotonic()
        status, text = _post(endpoint, body.encode(), headers)
        latency = int((time.monotonic() - started) * 1000)
        ok = status is not None and 200 <= status < 300
        _record(endpoint, deliveries, ok=ok, status=status, text=text, latency=latency)
    return len(deliveries), (deliveries[-1].next_attempt_at, deliveries[-1].pk)


def _record(endpoint, deliveries, *, ok: bool, status, text: str, latency: int) -> None:
    now = timezone.now()
    ids = [d.pk for d in deliveries]
    with transaction.atomic():
        WebhookAttempt.objects.create(
            endpoint=endpoint,
            event_ids=[d.event_id for d in deliveries],
            status_code=status,
            ok=ok,
            latency_ms=latency,
            response_start=text[:500],
        )
        if ok:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=WebhookDelivery.Status.DELIVERED,
                attempts=deliveries[0].attempts + 1,
                last_attempt_at=now,
                delivered_at=now,
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(failing_since=None).update(failing_since=None)
            return
        for delivery in deliveries:
            attempts = delivery.attempts + 1
            delay = retry_delay(attempts)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                attempts=attempts,
                last_attempt_at=now,
                status=WebhookDelivery.Status.FAILED if delay is None else WebhookDelivery.Status.PENDING,
                next_attempt_at=now if delay is None else now + datetime.timedelta(seconds=delay),
            )
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        endpoint.refresh_from_db()
        limit = datetime.timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
        if endpoint.is_active and endpoint.failing_since and now - endpoint.failing_since >= limit:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                is_active=False, disabled_reason=f"Failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
            )
            notify_admins(
                kind=Notification.Kind.WEBHOOK,
                title=f"Webhook endpoint {endpoint.url} disabled after failing for a day",
                body=f"Last answer: {status or text}",
                url=f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
            )


def endpoint_deliver(*, endpoint_id: int, budget_seconds: float | None = None) -> int:
    """Deliver the endpoint's due events batch after batch for up to `budget_seconds`; one worker
    per endpoint at a time (an advisory lock), so a slow receiver holds up only itself."""
    budget = settings.WEBHOOK_TASK_SECONDS if budget_seconds is None else budget_seconds
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_SPACE, endpoint_id])
        if not cursor.fetchone()[0]:
            return 0
    sent, after = 0, None
    try:
        events_expand()
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
        deadline = time.monotonic() + budget
        now = timezone.now()
        while endpoint and endpoint.is_active and time.monotonic() < deadline:
            n, after = _deliver_batch(endpoint=endpoint, now=now, after=after)
            if not n:
                break
            sent += n
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_SPACE, endpoint_id])
    return sent


# pg advisory lock key space for "one deliverer per endpoint".
LOCK_SPACE = 20_001


def endpoints_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Active endpoints with a due delivery."""
    now = now or timezone.now()
    return [
        e.pk
        for e in WebhookEndpoint.objects.filter(is_active=True)
        if WebhookDelivery.objects.filter(
            endpoint=e, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).exists()
    ]


# --- Alerts for people ------------------------------------------------------------------------


def staff_users():
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(is_staff=True) | Q(groups__name="Marketer"))
        .distinct()
    )


def notify(*, user_ids, kind: str, title: str, body: str = "", url: str = "") -> int:
    """Notify these people (in the current transaction; e-mailed by the deliver sweep)."""
    rows = Notification.objects.bulk_create(
        [Notification(user_id=uid, kind=kind, title=title[:300], body=body, url=url[:300]) for uid in set(user_ids)]
    )
    if rows:
        transaction.on_commit(wake)
    return len(rows)


def notify_staff(*, kind: str, title: str, body: str = "", url: str = "") -> int:
    """Notify every marketer and admin."""
    return notify(user_ids=staff_users().values_list("pk", flat=True), kind=kind, title=title, body=body, url=url)


def notify_admins(*, kind: str, title: str, body: str = "", url: str = "") -> int:
    ids = get_user_model().objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(is_staff=True))
    return notify(user_ids=ids.values_list("pk", flat=True), kind=kind, title=title, body=body, url=url)


def notifications_email(*, limit: int = 200) -> int:
    """E-mail notifications not yet sent (through Django's mail settings); returns how many."""
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(emailed_at=None)
            .select_related("user")
            .order_by("pk")[:limit]
        )
        for n in rows:
            if n.user.email:
                link = (
                    f"\n\n{settings.SITE_URL}{n.url}"
                    if n.url and settings.SITE_URL
                    else (f"\n\n{n.url}" if n.url else "")
                )
                send_mail(
                    subject=f"[Promo Campaigns] {n.title}",
                    message=(n.body or n.title) + link,
                    from_email=None,
                    recipient_list=[n.user.email],
                    fail_silently=True,
                )
        Notification.objects.filter(pk__in=[n.pk for n in rows]).update(emailed_at=timezone.now())
    return len(rows)


def notification_mark_read(*, user, ids=None) -> int:
    """Mark the person's notifications read (all unread when `ids` is None)."""
    qs = Notification.objects.filter(user=user, read_at=None)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
