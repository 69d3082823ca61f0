"""Array literals for bulk statements (core/db.py): whatever goes in comes back out of PostgreSQL."""

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import db

pytestmark = pytest.mark.django_db

# Text PostgreSQL can store: no NUL character.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def round_trip(literal: str, kind: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{kind}[]", [literal])
        return cursor.fetchone()[0]


@SETTINGS
@given(st.lists(st.one_of(st.none(), TEXT, st.sampled_from(["NULL", "null", "", '"', "\\", "{}", "a,b", " x "]))))
def test_text_arrays_round_trip_every_string(values):
    assert round_trip(db.text_array(values), "text") == values


@SETTINGS
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)))
def test_int_arrays_round_trip(values):
    assert round_trip(db.int_array(values), "bigint") == values


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(min_value=-(10**12), max_value=10**12),
            st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9),
        )
    )
)
def test_numeric_arrays_round_trip(values):
    back = round_trip(db.numeric_array(values), "numeric")
    assert back == [None if v is None else Decimal(v) for v in values]
