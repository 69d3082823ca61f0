import re

import pytest

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def test_admin_creates_an_api_key_and_shows_the_secret_once(admin_client_):
    response = admin_client_.post(
        "/admin/accounts/apikey/add/", {"name": "Checkout service", "scopes": ["events:write"]}, follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    match = re.search(r"Key id: (pk_[0-9a-f]+) — secret: (\S+) — copy the secret now", text)
    assert match, "the new secret is shown after creation"
    key_id, secret = match.groups()
    key = ApiKey.objects.get(key_id=key_id)
    assert key.created_by.username == "ada"
    assert secret not in key.secret_hash
    # The change page never shows the secret again.
    assert secret not in admin_client_.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()


def test_admin_revokes_keys(admin_client_, api_key, client):
    key, secret = api_key
    admin_client_.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_admin_edits_the_account_timezone(admin_client_):
    response = admin_client_.post("/admin/accounts/account/1/change/", {"name": "Acme", "timezone": "Europe/Berlin"})
    assert response.status_code == 302
    from accounts.account import account_get

    assert account_get().timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/account/",
        "/admin/accounts/apikey/",
        "/admin/accounts/workerheartbeat/",
        "/admin/segments/profile/",
        "/admin/segments/event/",
        "/admin/vouchers/partner/",
        "/admin/vouchers/partneruser/",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_admin_changelists_open(admin_client_, path):
    assert admin_client_.get(path).status_code == 200
