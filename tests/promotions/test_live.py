"""Live action campaigns (SPEC 6.4): matching, points, reasons, caps, periods, start / end, status."""

from decimal import Decimal

import pytest

from promotions.models import Grant
from wallets.models import Lot
from tests.promotions.live_support import grants, process, running_live, store
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_a_matching_event_credits_flat_points_once_per_event():
    campaign = running_live()
    profile = ProfileFactory()
    event = store(profile)

    process(event)
    process(event)  # the same batch delivered twice

    [grant] = grants(campaign)
    assert grant.granted and grant.points == Decimal(10) and grant.occurrence == f"event:{event.pk}"
    assert Lot.objects.get(profile=profile, campaign=campaign).amount == Decimal(10)
