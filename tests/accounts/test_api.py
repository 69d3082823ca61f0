import base64

import pytest
from django.core.management import call_command

from accounts import api
from accounts.models import ApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.api_test_urls")]

URL = "/api/1/whoami"


def basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def test_a_valid_key_is_let_through(client, api_key):
    key, secret = api_key
    response = client.get(URL, HTTP_AUTHORIZATION=basic(key.key_id, secret))
    assert response.status_code == 200
    assert response.json() == {"status": "success", "key": key.key_id}


def test_no_credentials_is_401_json(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json() == {"status": "fail", "code": 401, "error": api.ERR_NO_CREDENTIALS}


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_malformed_credentials_are_401(client, header):
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"] == api.ERR_NO_CREDENTIALS


def test_wrong_secret_is_401(client, api_key):
    key, secret = api_key
    response = client.get(URL, HTTP_AUTHORIZATION=basic(key.key_id, secret + "x"))
    assert response.status_code == 401
    assert response.json() == {"status": "fail", "code": 401, "error": api.ERR_BAD_CREDENTIALS}


def test_unknown_key_id_is_401(client, api_key):
    _, secret = api_key
    response = client.get(URL, HTTP_AUTHORIZATION=basic("pk_doesnotexist", secret))
    assert response.status_code == 401
    assert response.json()["error"] == api.ERR_BAD_CREDENTIALS


def test_revoked_key_is_401(client, api_key):
    key, secret = api_key
    api.api_key_revoke(key=key)
    response = client.get(URL, HTTP_AUTHORIZATION=basic(key.key_id, secret))
    assert response.status_code == 401
    assert response.json()["error"] == api.ERR_REVOKED


def test_wrong_method_is_405_json(client, api_key):
    key, secret = api_key
    response = client.delete(URL, HTTP_AUTHORIZATION=basic(key.key_id, secret))
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_post_needs_no_csrf_token(api_key):
    from django.test import Client

    key, secret = api_key
    client = Client(enforce_csrf_checks=True)
    assert client.post(URL, HTTP_AUTHORIZATION=basic(key.key_id, secret)).status_code == 200


def test_the_secret_is_stored_only_as_a_hash(api_key):
    key, secret = api_key
    key.refresh_from_db()
    assert secret not in key.secret_hash
    assert key.secret_hash == api.hash_secret(secret)


def test_create_api_key_command_prints_id_and_secret_that_work(client, capsys):
    call_command("create_api_key", "Mobile backend")
    key_id, secret = capsys.readouterr().out.strip().split(" ")
    key = ApiKey.objects.get(key_id=key_id)
    assert key.name == "Mobile backend"
    assert client.get(URL, HTTP_AUTHORIZATION=basic(key_id, secret)).status_code == 200
