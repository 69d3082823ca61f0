"""`make demo`'s audience goes through the upload API's service: the catalogues the builder reads
are filled, with the types the upload API infers."""

import io

import pytest

from segments import demo, selectors
from segments.models import Event, Profile

pytestmark = pytest.mark.django_db


def test_demo_audience_fills_the_event_and_profile_property_catalogues_once():
    out = io.StringIO()
    demo.load(out, profiles=30)
    demo.load(out)
    assert Profile.objects.filter(identity__startswith="demo-").count() == 30
    assert selectors.event_names() == ["Added To Cart", "Charged", "Product Viewed"]
    assert selectors.event_properties(event_name="Charged") == [("Amount", "number"), ("Payment Mode", "string")]
    assert selectors.event_numeric_properties(event_name="Added To Cart") == ["Quantity"]
    assert selectors.event_properties(event_name="Product Viewed") == [("Category", "string"), ("Product ID", "string")]
    profile_properties = dict(selectors.profile_properties())
    assert (profile_properties["City"], profile_properties["Device"]) == ("string", "string")
    assert Event.objects.count() > 30
    assert "already present" in out.getvalue()
