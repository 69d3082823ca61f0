import pytest

from promotions import services
from promotions.models import Campaign, CampaignRun
from tests.factories import UserFactory
from tests.promotions.factories import CampaignFactory
from tests.promotions.helpers import HTMX, campaign_live, campaign_past

pytestmark = pytest.mark.django_db


def test_list_query_count_does_not_grow_with_page_size(marketer_client, django_assert_max_num_queries):
    campaign_past(name="First")
    campaign_live(name="Second")
    with django_assert_max_num_queries(12) as small:
        marketer_client.get("/campaigns/?per_page=100")
    for i in range(40):
        CampaignFactory(name=f"Bulk {i}", created_by=UserFactory(), reward_type="points")
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = marketer_client.get("/campaigns/?per_page=100")
    assert response.content.decode().count('id="campaign-') >= 42


def test_list_shows_columns(marketer_client, marketer):
    campaign_past(name="Diwali bonus", user=marketer)
    html = marketer_client.get("/campaigns/").content.decode()
    assert "Diwali bonus" in html and "Custom list" in html and "Flat 100 Supercoins" in html


def test_list_filters_search_and_htmx_partial(marketer_client):
    past = campaign_past(name="Diwali bonus")
    live = campaign_live(name="Cashback", status=Campaign.Status.RUNNING)
    CampaignFactory(name="Old", status=Campaign.Status.ARCHIVED)
    html = marketer_client.get("/campaigns/?type=live_action").content.decode()
    assert "Cashback" in html and "Diwali bonus" not in html
    html = marketer_client.get("/campaigns/?status=running").content.decode()
    assert "Cashback" in html and "Diwali bonus" not in html
    html = marketer_client.get(f"/campaigns/?q={past.pk}").content.decode()
    assert "Diwali bonus" in html and "Cashback" not in html
    assert "Old" not in marketer_client.get("/campaigns/").content.decode()
    response = marketer_client.get("/campaigns/?q=cash", HTTP_HX_TARGET="campaign-table", **HTMX)
    html = response.content.decode()
    assert 'id="campaign-table"' in html and "<html" not in html and f"#{live.pk}" in html


def test_a_filter_that_does_not_parse_answers_422_with_its_error_where_the_filters_are(marketer_client):
    campaign_past(name="Diwali bonus")
    page = marketer_client.get("/campaigns/?status=nonsense")
    assert page.status_code == 422 and "<html" in page.content.decode()
    assert 'id="filter-errors"' in page.content.decode()
    table = marketer_client.get("/campaigns/?status=nonsense", HTTP_HX_TARGET="campaign-table", **HTMX)
    html = table.content.decode()
    assert table.status_code == 422 and "<html" not in html and 'id="filter-errors"' in html
    assert marketer_client.get("/campaigns/?status=running").status_code == 200


def test_list_sorts_by_name(marketer_client):
    CampaignFactory(name="Bravo")
    CampaignFactory(name="Alpha")
    html = marketer_client.get("/campaigns/?sort=name").content.decode()
    assert html.index("Alpha") < html.index("Bravo")
    html = marketer_client.get("/campaigns/?sort=-name").content.decode()
    assert html.index("Bravo") < html.index("Alpha")


def test_detail_shows_configuration_progress_and_history(marketer_client, marketer):
    campaign = services.campaign_publish(campaign=campaign_past(), actor=marketer)
    CampaignRun.objects.filter(campaign=campaign).update(status="running", total=200, processed=50, granted=40)
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Flat 100 Supercoins" in html and "50 of 200 processed" in html and "Published" in html
    partial = marketer_client.get(f"/campaigns/{campaign.pk}/progress/", **HTMX).content.decode()
    assert 'id="run-progress"' in partial and "<html" not in partial and 'hx-trigger="every 3s"' in partial
