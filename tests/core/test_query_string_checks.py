"""A page's query string with a value PostgreSQL cannot store is a 400 page naming the parameter,
never a 500 (the walkthrough found three pages answering 500 to a NUL in a search)."""

import pytest

from tests.promotions.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url,param",
    [
        ("/audience/profiles/?q=%00", "q"),
        ("/audience/events/?name=ab%00c", "name"),
        ("/campaigns/{pk}/?identity=%00", "identity"),
        ("/campaigns/?q=x%00", "q"),
        ("/wallets/?x=1&days=%00", "days"),
    ],
)
def test_a_nul_in_a_pages_query_string_is_a_400_naming_the_parameter(marketer_client, url, param):
    response = marketer_client.get(url.format(pk=CampaignFactory().pk))
    html = response.content.decode()
    assert response.status_code == 400
    assert f"The address’s “{param}” contains a NUL character" in html
    assert 'class="topbar"' in html


def test_a_nul_in_a_parameter_name_is_refused_too(marketer_client):
    response = marketer_client.get("/audience/profiles/?q%00=1")
    assert response.status_code == 400 and "A parameter name in the address contains a NUL" in response.content.decode()


def test_ordinary_query_strings_and_the_api_are_left_alone(marketer_client):
    assert marketer_client.get("/audience/profiles/?q=alice").status_code == 200
    api = marketer_client.get("/api/1/promo/wallets?identity=%00")
    assert api.status_code != 400 or api["Content-Type"].startswith("application/json")
