"""The account-wide models moved from config to accounts (issue 22) without a row moving: starting
from config 0005 with rows in every table (and a campaign event pointing at an API key), the
migrations hand the models over and the same rows are there through the new models; the content
types follow, so permissions and admin log entries still name the right objects. Backwards too."""

import datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Account, ApiKey, IdempotencyRecord, Outbox, RateLimitCounter, WorkerHeartbeat
from promotions.models import CampaignEvent
from tests.factories import UserFactory
from tests.promotions.factories import CampaignFactory

pytestmark = pytest.mark.django_db

MOVED = ["account", "apikey", "idempotencyrecord", "workerheartbeat", "ratelimitcounter", "outbox"]
BEFORE = [("config", "0005_outbox"), ("promotions", "0017_run_partitions")]


def _migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()


def _labels() -> dict[str, str]:
    return dict(ContentType.objects.filter(model__in=MOVED).values_list("model", "app_label"))


def test_the_rows_stay_where_they_are_and_the_new_models_find_them():
    user = UserFactory(is_staff=True)
    _migrate([("accounts", None)])  # back to config 0005: accounts 0001, promotions 0018, config 0006 undone
    assert _labels() == dict.fromkeys(MOVED, "config")

    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    old_key = old.get_model("config", "ApiKey").objects.create(
        name="Checkout", key_id="kid-moved", secret_hash="0" * 64, scopes=["events:write"]
    )
    old.get_model("config", "Account").objects.filter(pk=1).update(name="Acme", timezone="Europe/Berlin")
    old.get_model("config", "IdempotencyRecord").objects.create(
        api_key=old_key,
        endpoint="wallets.transactions",
        key="k-1",
        fingerprint="f",
        response_status=201,
        response_body={"ok": True},
        response_content='{"ok": true}',
    )
    seen_at = timezone.now() - datetime.timedelta(minutes=1)
    old.get_model("config", "WorkerHeartbeat").objects.create(hostname="worker@a", seen_at=seen_at)
    old.get_model("config", "RateLimitCounter").objects.create(bucket="wallets:kid-moved", window_number=7, count=3)
    outbox = old.get_model("config", "Outbox").objects.create(
        topic="promotions.live_events", payload={"event_ids": [1]}
    )
    campaign = CampaignFactory()
    event = old.get_model("promotions", "CampaignEvent").objects.create(
        campaign_id=campaign.pk, api_key=old_key, action="paused"
    )
    key_type = ContentType.objects.get(app_label="config", model="apikey")
    LogEntry.objects.create(
        user=user, content_type=key_type, object_id=str(old_key.pk), object_repr="Checkout", action_flag=CHANGE
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    key = ApiKey.objects.get(key_id="kid-moved")
    assert (key.pk, key.name, key.scopes) == (old_key.pk, "Checkout", ["events:write"])
    assert (Account.objects.get().name, Account.objects.get().timezone) == ("Acme", "Europe/Berlin")
    assert IdempotencyRecord.objects.get(key="k-1").api_key == key
    assert WorkerHeartbeat.objects.get(hostname="worker@a").seen_at == seen_at
    assert RateLimitCounter.objects.get(bucket="wallets:kid-moved").count == 3
    assert Outbox.objects.get(pk=outbox.pk).payload == {"event_ids": [1]}
    assert CampaignEvent.objects.get(pk=event.pk).api_key == key

    # The content types were relabelled, not recreated: same ids, so permissions and log entries follow.
    assert _labels() == dict.fromkeys(MOVED, "accounts")
    assert ContentType.objects.get_for_model(ApiKey).pk == key_type.pk
    assert Permission.objects.get(codename="change_apikey").content_type.app_label == "accounts"
    assert LogEntry.objects.get(object_id=str(key.pk), content_type=key_type).get_edited_object() == key
