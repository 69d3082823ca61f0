"""Distribution results on screens: detail stats and errors, CSV export, the profile's rewards."""

import csv
import datetime
import io

import pytest
from django.utils import timezone

from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun, Grant
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)


def distributed(**overrides):
    campaign = campaign_past(status=Campaign.Status.RUNNING, **overrides)
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    sweeps.runs_dispatch_due()
    while runs.run_distribute_chunk(run_id=run.pk) == runs.MORE:
        pass
    return campaign


def test_detail_shows_stats_and_errors_with_examples(marketer_client):
    campaign = distributed(members=3)
    loser = ProfileFactory(identity="=cmd|evil")
    Grant.objects.create(
        campaign=campaign, profile=loser, occurrence="run:0", granted=False, reason=Grant.Reason.INACTIVE_WALLET
    )
    content = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<div class="value" id="stat-rewards-given">3</div>' in content
    assert '<div class="value" id="stat-profiles-rewarded">3</div>' in content
    assert '<div class="value" id="stat-points">300</div>' in content
    assert '<div class="value" id="stat-not-granted">1</div>' in content
    assert "<td>Inactive wallet</td>" in content
    assert f'href="/audience/profiles/{loser.pk}/">=cmd|evil</a>' in content


def test_grants_csv_is_formula_safe(marketer_client):
    campaign = distributed(members=2)
    evil = ProfileFactory(identity="=HYPERLINK(1)")
    Grant.objects.create(
        campaign=campaign, profile=evil, occurrence="run:0", granted=False, reason=Grant.Reason.INACTIVE_WALLET
    )
    response = marketer_client.get(f"/campaigns/{campaign.pk}/grants.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["profile", "outcome", "reason", "code", "points", "occurrence", "time"]
    assert len(rows) == 4
    assert rows[-1][:6] == ["'=HYPERLINK(1)", "not granted", "Inactive wallet", "", "", "run:0"]
    assert rows[1][1:5] == ["granted", "", "", "100"]


def test_profile_page_lists_its_rewards_in_one_query(marketer_client, django_assert_max_num_queries):
    campaign = distributed(members=1)
    profile = campaign.custom_list.members.get().profile
    for n in range(5):
        Grant.objects.create(
            campaign=campaign_past(name=f"Other {n}", members=0),
            profile=profile,
            occurrence="run:0",
            granted=False,
            reason=Grant.Reason.BULK_CODES_EXHAUSTED,
        )
    with django_assert_max_num_queries(12):
        content = marketer_client.get(f"/audience/profiles/{profile.pk}/").content.decode()
    assert f'<a href="/campaigns/{campaign.pk}/">Diwali bonus</a>' in content
    assert content.count("Bulk codes exhausted") == 5
    assert "No rewards given to this profile yet." not in content
