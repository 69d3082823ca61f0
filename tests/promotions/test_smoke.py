import pytest

pytestmark = pytest.mark.django_db


def test_builder_pages_render(marketer_client):
    assert marketer_client.get("/campaigns/new/").status_code == 200
    assert marketer_client.get("/campaigns/").status_code == 200
