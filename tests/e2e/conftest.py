"""Browser journeys: Playwright driving Debian's Chromium against pytest-django's live server.

Screenshots of each journey's final screen go to test-artifacts/ (kept by CI as artifacts).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium's background services try the internet, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """Call at the end of a journey: saves the final screen as test-artifacts/<test name>.png."""

    def take(name: str | None = None):
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name or request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def htmx_ready(page) -> None:
    """Wait until the page has loaded and htmx has bound its triggers.

    htmx is a deferred script: after a click that navigates, the new page's fields are visible and
    usable before htmx processes them, and a choice made in that gap sends no request."""
    page.wait_for_function("document.readyState === 'complete' && !!window.htmx")


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    # The form's POST loads a new page (the next one, or the form again on an error). Wait for its
    # load event: htmx is a deferred script and binds its triggers only then, so a select changed
    # before that sends no request (seen in CI under load).
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
