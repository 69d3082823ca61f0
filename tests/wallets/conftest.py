import datetime

import pytest
from django.utils import timezone


@pytest.fixture
def clock(monkeypatch):
    """Freeze `timezone.now()` at a settable instant: `clock.set(dt)`."""

    class Clock:
        now = timezone.now().replace(microsecond=0)

        def set(self, value: datetime.datetime):
            self.now = value

        def advance(self, **kwargs):
            self.now += datetime.timedelta(**kwargs)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c
