from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from coupons import services, tasks
from coupons.models import Coupon, CouponEvent
from tests.coupons.factories import CouponFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

S = Coupon.Status
ALLOWED = {
    S.DRAFT: {"activate", "archive"},
    S.SCHEDULED: {"end", "archive"},
    S.ACTIVE: {"pause", "end", "archive"},
    S.PAUSED: {"activate", "end", "archive"},
    S.ENDED: {"archive"},
    S.ARCHIVED: set(),
}
TARGET = {"pause": S.PAUSED, "end": S.ENDED, "archive": S.ARCHIVED, "activate": S.ACTIVE}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", ["activate", "pause", "end", "archive"])
def test_each_status_allows_exactly_its_actions(status, action):
    coupon = CouponFactory(status=status)
    actor = UserFactory(username="maya")
    assert set(services.coupon_actions(coupon=coupon)) == ALLOWED[status]
    if action in ALLOWED[status]:
        services.coupon_transition(coupon=coupon, action=action, actor=actor)
        coupon.refresh_from_db()
        assert coupon.status == TARGET[action]
        event = CouponEvent.objects.get(coupon=coupon)
        assert (event.actor, event.action) == (actor, action)
        assert event.message == f"{S(status).label} → {S(TARGET[action]).label}."
    else:
        with pytest.raises(ValidationError) as exc:
            services.coupon_transition(coupon=coupon, action=action, actor=actor)
        verb = services.TRANSITIONS[action][1]
        assert exc.value.messages == [f"A coupon that is {S(status).label} cannot be {verb}."]
        coupon.refresh_from_db()
        assert coupon.status == status
        assert not CouponEvent.objects.exists()


def test_activating_with_a_future_start_schedules_it_and_the_sweep_starts_it():
    start = timezone.now() + timedelta(hours=1)
    coupon = CouponFactory(status=S.DRAFT, starts_at=start, ends_at=start + timedelta(days=1))
    coupon = services.coupon_transition(coupon=coupon, action="activate", actor=None)
    assert coupon.status == S.SCHEDULED
    assert services.coupon_status_sweep(now=start - timedelta(seconds=1)) == 0
    assert services.coupon_status_sweep(now=start) == 1
    coupon.refresh_from_db()
    assert coupon.status == S.ACTIVE
    services.coupon_status_sweep(now=start + timedelta(days=1))
    coupon.refresh_from_db()
    assert coupon.status == S.ENDED
    assert CouponEvent.objects.filter(coupon=coupon, action="schedule", actor=None).count() == 2


def test_the_beat_task_runs_the_sweep():
    coupon = CouponFactory(status=S.ACTIVE, ends_at=timezone.now() - timedelta(minutes=1))
    tasks.status_sweep()
    coupon.refresh_from_db()
    assert coupon.status == S.ENDED


def test_activation_is_refused_after_the_end_time():
    coupon = CouponFactory(status=S.DRAFT, ends_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="end time has passed"):
        services.coupon_transition(coupon=coupon, action="activate", actor=None)


def test_a_stale_transition_loses_to_a_concurrent_one():
    coupon = CouponFactory(status=S.ACTIVE)
    stale = Coupon.objects.get(pk=coupon.pk)
    services.coupon_transition(coupon=coupon, action="end", actor=None)
    with pytest.raises(ValidationError, match="A coupon that is Ended cannot be paused."):
        services.coupon_transition(coupon=stale, action="pause", actor=None)


def test_edits_are_recorded_and_archived_coupons_are_read_only():
    coupon = CouponFactory(status=S.ACTIVE, name="Old")
    actor = UserFactory(username="maya")
    services.coupon_update(coupon=coupon, data={"name": "New", "terms": "T&C"}, actor=actor)
    event = CouponEvent.objects.get(coupon=coupon)
    assert event.message == "Changed name, terms." and event.actor == actor
    Coupon.objects.filter(pk=coupon.pk).update(status=S.ARCHIVED)
    with pytest.raises(ValidationError, match="An archived coupon is view-only."):
        services.coupon_update(coupon=coupon, data={"name": "Newer"}, actor=actor)
