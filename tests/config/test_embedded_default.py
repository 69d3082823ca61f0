"""The path every new user takes (SPEC 10), end to end: a clean clone of the committed HEAD, `make run`
on the embedded default (the embedded PostgreSQL server from the pip package, data under the
clone's var/; the filesystem broker; no DATABASE_URL, no CELERY_BROKER_URL) on a free PORT.

Then, against what it serves:
- admin, marketer and partner sign in with the demo passwords from var/demo-credentials.txt and
  every link reachable from the navigation, two levels deep, answers a GET without a 5xx;
- in a browser, the marketer builds a past-behaviour campaign with the visual rule builder (did
  `Charged` in the last 30 days: the demo events are in the builder's dropdowns), publishes it,
  and sees the rewards on the campaign page and in the wallet's transactions;
- Ctrl-C (SIGINT to make's process group, as a terminal sends it) stops web, worker, beat and the
  embedded server.

The slowest test of the suite (a migrate and the demo data on a new server, two minutes or so).
It never touches the test database, Redis or port 8000; every process it started is stopped,
failure or not (the `finally` below).
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import psutil
import pytest

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 300  # migrate + the demo data on a new embedded server, on a busy 2-core CI box
REWARDS_TIMEOUT_S = 120  # the run: dispatched by publish or beat's 30 s sweep, done by the worker
STOP_TIMEOUT_S = 90
# What the shell that runs the test may export and the first run must not see.
NOT_INHERITED = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "PROMO_VAR_DIR", "CELERY_TASK_ALWAYS_EAGER"}
NOT_INHERITED_PREFIXES = ("TEST_", "MAKE", "MFLAGS", "BENCH_", "PYTEST_")
# GET-only crawl: never sign out half-way.
SKIPPED_PATHS = ("/accounts/logout/", "/admin/logout/")
CAMPAIGN = "First run: recent buyers"
DEMO_EVENTS = ["Added To Cart", "Charged", "Product Viewed"]


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 8000:
            return port
    raise AssertionError("no free port")


def _clean_clone(target: Path) -> None:
    """The committed HEAD, as `git clone` gives it, with the running venv (no second pip install)."""
    target.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True, timeout=60)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True, timeout=60)
    (target / ".venv").symlink_to(Path(sys.prefix))


def _environment(port: int) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in NOT_INHERITED and not key.startswith(NOT_INHERITED_PREFIXES)
    }
    env.update({"PORT": str(port), "PYTHONUNBUFFERED": "1"})
    return env


def _log_tail(log: Path, chars: int = 6000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:  # noqa: S310 (our own server)
            return response.status == 200
    except OSError:
        return False


def _wait(predicate, *, timeout: float, what: str, log: Path, process: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            raise AssertionError(f"make run exited ({process.returncode}) before {what}:\n{_log_tail(log)}")
        time.sleep(1)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}:\n{_log_tail(log)}")


def _processes_of(clone: Path) -> list[psutil.Process]:
    """Every process whose command line or working directory is in the clone (web, worker, beat, postgres)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            cwd = process.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if process.pid != os.getpid() and (str(clone) in cmdline or cwd.startswith(str(clone))):
            found.append(process)
    return found


def _stop_everything(process: subprocess.Popen, clone: Path) -> None:
    """The safety net: whatever `make run`'s own Ctrl-C handling left, by process group, then by path."""
    for sig, grace in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):  # make's children that outlived it
        os.killpg(process.pid, signal.SIGKILL)
    if (clone / "var" / "postgres").exists():
        env = {**_environment(0), "PROMO_VAR_DIR": str(clone / "var")}
        subprocess.run(
            [sys.executable, "-m", "config.embedded_db", "stop"], cwd=clone, env=env, timeout=120, check=False
        )
    for leftover in _processes_of(clone):
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()


# --- The GET crawl -------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.nav: list[str] = []
        self.all: list[str] = []
        self._nav_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav":
            self._nav_depth += 1
        if tag == "a" and attrs.get("href"):
            self.all.append(attrs["href"])
            if self._nav_depth:
                self.nav.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _internal(base: str, page_url: str, hrefs: list[str]) -> list[str]:
    urls = []
    for href in hrefs:
        url = urldefrag(urljoin(page_url, href)).url
        if url.startswith(base + "/") and urlsplit(url).path not in SKIPPED_PATHS and url not in urls:
            urls.append(url)
    return urls


def _crawl(request_context, base: str) -> dict[str, int]:
    """Status of every page reachable from the navigation of the home page, two levels deep."""
    statuses: dict[str, int] = {}

    def get(url: str) -> str:
        response = request_context.get(url, fail_on_status_code=False, timeout=60_000)
        statuses[url] = response.status
        content_type = response.headers.get("content-type", "")
        return response.text() if response.ok and content_type.startswith("text/html") else ""

    home = get(base + "/")
    level_one = _internal(base, base + "/", _parse(home).nav)
    assert level_one, f"no navigation links on {base}/"
    level_two = []
    for url in level_one:
        html = get(url)
        level_two.extend(u for u in _internal(base, url, _parse(html).all) if u not in level_two)
    for url in level_two:
        if url not in statuses:
            get(url)
    return statuses


# --- The browser journey -------------------------------------------------------------------------


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")


def _section(page, title: str):
    return page.get_by_role("region", name=title, exact=True)


def _save(page, title: str) -> None:
    from playwright.sync_api import expect

    region = _section(page, title)
    region.get_by_role("button", name="Save and continue").click()
    _settle(page)
    try:
        expect(region.locator(".section-step")).to_have_text("✓")
    except AssertionError as exc:
        errors = region.locator(".errorlist, [role=alert]").all_inner_texts()
        raise AssertionError(f"{title} was not saved; the screen says: {errors}") from exc


def _number(text: str) -> int:
    digits = re.sub(r"[^\d]", "", text)
    return int(digits) if digits else 0


def _build_and_publish(page, base: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Create campaign").click()
    start = _section(page, "Start here")
    start.get_by_label("Campaign name", exact=True).fill(CAMPAIGN)
    expect(start.get_by_role("radio", name=re.compile(r"Past behavior"))).to_be_checked()
    _save(page, "Start here")

    who = _section(page, "Who")
    who.get_by_label("Rules built here", exact=True).check()
    _settle(page)
    builder = who.locator("#rule-builder")
    rule = builder.locator("li.rb-row").nth(0)
    expect(rule.get_by_label("Rule 1 type")).to_have_value("did")
    # The demo events are in the catalogue, so the builder offers them.
    offered = rule.get_by_label("Event", exact=True).locator("option").all_inner_texts()
    assert set(DEMO_EVENTS) <= {o.strip() for o in offered}, offered
    rule.get_by_label("Event", exact=True).select_option("Charged")
    _settle(page)
    rule = builder.locator("li.rb-row").nth(0)
    rule.get_by_label("Time window").select_option(label="in the last")
    _settle(page)
    rule = builder.locator("li.rb-row").nth(0)
    rule.get_by_label("How many").fill("30")
    rule.get_by_label("Unit", exact=True).select_option("days")
    _settle(page)
    _save(page, "Who")

    what = _section(page, "What")
    what.get_by_label("Wallet points", exact=True).check()
    _settle(page)
    what.get_by_label("Wallet", exact=True).select_option(label="Supercoins (Supercoins)")
    what.get_by_label("Flat", exact=True).check()
    _settle(page)
    what.get_by_label("Points", exact=True).fill("100")
    _save(page, "What")

    when = _section(page, "When")
    when.get_by_role("radio", name=re.compile(r"Send now")).check()
    _settle(page)
    _save(page, "When")

    publish = page.get_by_role("button", name="Publish campaign")
    expect(publish).to_be_enabled()
    publish.click()
    expect(page.get_by_role("heading", name=CAMPAIGN, level=1)).to_be_visible()


def _reload(page, url: str) -> None:
    """Load the campaign page again. The page's own progress poll answers HX-Refresh when the run
    ends, and that reload can abort ours (net::ERR_ABORTED): then the page's reload is the one
    that counts, so wait for it instead of failing. Chromium reports the clash either way round:
    ours aborted (net::ERR_ABORTED) or ours "interrupted by another navigation" (seen in CI)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.goto(url)
    except PlaywrightError as exc:
        if "ERR_ABORTED" not in str(exc) and "interrupted by another navigation" not in str(exc):
            raise
        page.wait_for_load_state("load")


def _see_rewards(page, base: str) -> int:
    from playwright.sync_api import expect

    campaign_url = page.url
    deadline = time.monotonic() + REWARDS_TIMEOUT_S
    while True:
        status = page.locator("#campaign-status").inner_text().strip()
        rewarded = _number(page.locator("#stat-profiles-rewarded").inner_text())
        if status == "Completed" and rewarded:
            break
        assert time.monotonic() < deadline, f"campaign still {status!r} with {rewarded} rewarded"
        time.sleep(3)
        _reload(page, campaign_url)
    assert _number(page.locator("#stat-points").inner_text()) == 100 * rewarded
    page.screenshot(path=str(ARTIFACTS / "first_run_campaign.png"), full_page=True)

    page.get_by_role("link", name="Wallets", exact=True).click()
    page.get_by_role("link", name="Supercoins").first.click()
    expect(page.get_by_role("heading", name=re.compile("Supercoins"), level=1)).to_be_visible()
    assert _number(page.locator("#total-active").inner_text()) + _number(page.locator("#total-promised").inner_text())
    page.screenshot(path=str(ARTIFACTS / "first_run_wallet.png"), full_page=True)
    page.get_by_role("link", name="Transactions", exact=True).click()
    rows = page.locator("tbody tr", has_text=CAMPAIGN)
    expect(rows.first).to_be_visible()
    expect(rows.first).to_contain_text("+100")
    page.screenshot(path=str(ARTIFACTS / "first_run_wallet_transactions.png"), full_page=True)
    return rewarded


def _sign_in(page, username: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


# --- The test ------------------------------------------------------------------------------------


def test_a_clean_clone_make_run_serves_every_page_and_a_campaign_built_in_the_browser_rewards(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    clone = tmp_path / "clone"
    _clean_clone(clone)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "make-run.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=_environment(port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group, with SIGINT as a terminal leaves it (a shell that started
            # pytest in the background may have set it to ignored): the test's Ctrl-C is real.
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        what = f"the web server on {base}"
        _wait(lambda: _healthy(base), timeout=STARTUP_TIMEOUT_S, what=what, log=log, process=process)
        output = log.read_text()
        # The embedded default: PostgreSQL from the pip package, its data and socket in the clone.
        assert "embedded PostgreSQL server" in output, output[-3000:]
        assert (clone / "var" / "postgres" / "PG_VERSION").read_text().strip() == "18"
        assert f"Demo logins ({base}/accounts/login/)" in output
        assert f"Starting web ({base}/)" in output
        passwords = dict(
            line.split(" ", 1) for line in (clone / "var" / "demo-credentials.txt").read_text().splitlines()
        )
        assert set(passwords) == {"admin", "marketer", "partner"}

        def in_the_browser():
            failures, visited = {}, {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    for role in ("admin", "marketer", "partner"):
                        context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 900})
                        page = context.new_page()
                        page.set_default_timeout(30_000)
                        _sign_in(page, role, passwords[role])
                        statuses = _crawl(context.request, base)
                        visited[role] = len(statuses)
                        failures.update({f"{role} GET {url}": s for url, s in statuses.items() if s >= 500})
                        if role == "marketer":
                            _build_and_publish(page, base)
                            _see_rewards(page, base)
                        context.close()
                finally:
                    browser.close()
            return failures, visited

        # A thread of its own: in a full run the browser journeys' session-wide Playwright still
        # holds this thread's event loop, and the sync API refuses to start a second one in it.
        with ThreadPoolExecutor(max_workers=1) as pool:
            failures, visited = pool.submit(in_the_browser).result()
        assert not failures, f"5xx answers: {failures}\n{_log_tail(log)}"
        # Each role reached past its navigation: the admin every model of the admin site too (about
        # 150 pages), the marketer every list and the demo objects on them (about 85), the partner
        # the demo voucher list.
        assert visited["admin"] >= 100 and visited["marketer"] >= 50 and visited["partner"] >= 3, visited

        # Ctrl-C: make run stops web, worker, beat and the embedded server, and exits.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=STOP_TIMEOUT_S)
        time.sleep(1)
        left = [" ".join(p.cmdline())[:120] for p in _processes_of(clone) if p.is_running()]
        assert not left, f"still running after Ctrl-C: {left}\n{_log_tail(log)}"
        assert "Stopped the embedded PostgreSQL server." in log.read_text()
        # A clean Ctrl-C is not an error: the supervisor exits 0, so make prints no "Error 130".
        assert "make: ***" not in log.read_text(), _log_tail(log)
        assert not (clone / "var" / "postgres" / "postmaster.pid").exists()
    finally:
        _stop_everything(process, clone)
