import pytest
from django.db import connection

from tests.factories import ApiKeyFactory, UserFactory


@pytest.fixture(autouse=True, scope="session")
def _require_postgresql(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The suite runs on PostgreSQL: run `make test`, or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/promo",
                returncode=2,
            )


@pytest.fixture
def marketer(db):
    return UserFactory(username="maya", groups=["Marketer"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", is_staff=True, is_superuser=True)


@pytest.fixture
def partner_user(db):
    from tests.vouchers.factories import PartnerUserFactory

    return PartnerUserFactory(user__username="pat").user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def partner_client(client, partner_user):
    client.force_login(partner_user)
    return client


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_key(db):
    """An active API key and its plain secret: `key, secret = api_key`."""
    return ApiKeyFactory.create_with_secret()


@pytest.fixture
def api_client(client, api_key):
    """A Django test client that sends the API key with every request (HTTP Basic)."""
    import base64

    key, secret = api_key
    token = base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client
