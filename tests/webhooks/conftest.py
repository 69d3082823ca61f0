import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _short_backoff(settings):
    # Retries due after 1 s, five of them: the "about a day" schedule shrunk for tests.
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 1, 1, 1, 1]
    settings.WEBHOOK_BLOCK_PRIVATE = False
