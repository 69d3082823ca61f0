"""pages_p95: every page reachable from the navigation, signed in as a marketer and as an admin.

Seeds, in a transaction rolled back at the end, the two users and a running live campaign with
2,000,000 grants (× the scale: 200,000 with SMALL) to the data set's profiles over the last 90
days, next to the data set's profiles and events. After the crawl, in the same transaction, the
campaign's wallet is given a lot for every profile (1,000,000 lots and ledger rows, as a run
would leave) and the pages that read lots — the wallet's and the campaign's — are timed again
and noted beside pages_p95 (the SPEC's figure is the crawl's). Then, for each user, crawls with Django's test
Client (server time: request to response, no network): the home page, every link on it (the
navigation: level 1) and every link on those pages (level 2), GET only, same-site paths only;
at most VARIANTS query-string variants of one path (pagination, sorts, filters), and no
exports or downloads (files of the whole data set, not pages). Each page: one warm-up, then the
median of RUNS. pages_p95 is the nearest-rank 95th percentile of those medians (SPEC 9's page
budget: ≤ 300 ms); the slowest pages are noted. Django's admin pages (the admin's "Admin" link)
are timed and noted but kept out of pages_p95: they are Django's, not the product's screens.
"""

import re
import statistics
import time
from collections import defaultdict
from urllib.parse import urljoin, urlsplit

from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bench.common import Context, Figure, log, percentile

GRANTS = 2_000_000
RUNS = 3
VARIANTS = 3
TARGET_MS = 300
SKIP = re.compile(r"export|download|\.csv|logout|/api/|/static/|/media/|^/partner/", re.IGNORECASE)
HREF = re.compile(r'href="([^"#]*)"')


class _Rollback(Exception):
    pass


def _seed(scale: float):
    from promotions.models import Campaign
    from tests.factories import UserFactory
    from wallets.models import Wallet

    marketer = UserFactory(username="bench-pages-marketer", groups=["Marketer"])
    admin = UserFactory(username="bench-pages-admin", is_staff=True, is_superuser=True)
    wallet = Wallet.objects.create(name="Bench pages coins")
    campaign = Campaign.objects.create(
        name="Bench pages live",
        qualification=Campaign.Qualification.LIVE_ACTION,
        status=Campaign.Status.RUNNING,
        reward_type=Campaign.RewardType.POINTS,
        wallet=wallet,
        points_type=Campaign.PointsType.FLAT,
        flat_points=10,
        live_start=Campaign.LiveStart.NOW,
        live_end=Campaign.LiveEnd.NEVER,
        starts_at=timezone.now() - timezone.timedelta(days=90),
        created_by=marketer,
    )
    grants = int(GRANTS * scale)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Grants to the data set's profiles in turn (several per profile when grants > profiles),
        # through the rollup's triggers like any grant.
        cursor.execute(
            """
            INSERT INTO promotions_grant
                (campaign_id, profile_id, occurrence, run_id, granted, reason, points, code, created_at)
            SELECT %(c)s, p.id, 'event:' || i, NULL, i %% 10 <> 0,
                   CASE WHEN i %% 10 <> 0 THEN '' ELSE 'Campaign points budget exceeded' END,
                   CASE WHEN i %% 10 <> 0 THEN 10 END, '',
                   now() - (i::float / %(n)s) * interval '90 days'
            FROM generate_series(1, %(n)s) AS i
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM segments_profile) p
              ON p.k = i %% (SELECT count(*) FROM segments_profile)
            """,
            {"c": campaign.pk, "n": grants},
        )
        cursor.execute("ANALYZE promotions_grant")
        cursor.execute("ANALYZE promotions_grantrollup")
    log(f"pages: seeded {grants:,} grants in {time.perf_counter() - started:.1f} s")
    return marketer, admin, wallet, campaign


def _seed_points(wallet, campaign) -> None:
    """The campaign's wallet holds points for every profile (lots and ledger rows, through the
    wallet's own bulk credit): half active now, half promised for tomorrow, so its page sums a
    wallet of the data set's size, as a real one would after a run."""
    from segments.models import Profile
    from wallets.services import wallet_credit_bulk

    started = time.perf_counter()
    ids = list(Profile.objects.order_by("id").values_list("id", flat=True))
    half = len(ids) // 2
    now = timezone.now()
    for part, activates in ((ids[:half], None), (ids[half:], now + timezone.timedelta(days=1))):
        wallet_credit_bulk(
            wallet=wallet,
            profile_ids=part,
            points=10,
            campaign=campaign,
            occurrence="bench-pages",
            activates_at=activates,
            expires_at=now + timezone.timedelta(days=30),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_lot")
        cursor.execute("ANALYZE wallets_transaction")
    log(f"pages: credited {len(ids):,} lots in {time.perf_counter() - started:.1f} s")


def _links(html: str, base: str) -> list[str]:
    found = []
    for href in HREF.findall(html):
        url = urljoin(base, href.replace("&amp;", "&"))
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != "testserver":
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path.startswith("/") and not SKIP.search(path):
            found.append(path)
    return found


def _time(client: Client, url: str) -> tuple[float, int]:
    response = client.get(url)  # warm-up
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), response.status_code


def crawl(client: Client, label: str) -> dict[str, float]:
    """url → median ms of the pages two links deep from the home page."""
    home = client.get("/", follow=True)
    start = home.redirect_chain[-1][0] if home.redirect_chain else "/"
    timings: dict[str, float] = {}
    variants: dict[str, int] = defaultdict(int)
    level, seen = [start], {start}
    for depth in range(3):  # the home page, the navigation, the pages the navigation leads to
        following = []
        for url in level:
            ms, status = _time(client, url)
            if status in (301, 302):
                continue  # a redirect (the brand link to /): its target is crawled and timed
            if status != 200:
                log(f"pages: {label} {url} answered {status}; not timed")
                continue
            timings[url] = ms
            if depth == 2:
                continue
            html = client.get(url).content.decode(errors="replace")
            for link in _links(html, url):
                path = urlsplit(link).path
                if link in seen or (link != path and variants[path] >= VARIANTS):
                    continue
                seen.add(link)
                variants[path] += link != path
                following.append(link)
        level = following
    return timings


def run(ctx: Context):
    product: dict[str, float] = {}
    admin_pages: dict[str, float] = {}
    try:
        with transaction.atomic():
            marketer, admin, wallet, campaign = _seed(ctx.scale)
            for label, user in (("marketer", marketer), ("admin", admin)):
                client = Client()
                client.force_login(user)
                started = time.perf_counter()
                timings = crawl(client, label)
                log(f"pages: {label}: {len(timings)} pages in {time.perf_counter() - started:.1f} s")
                for url, ms in timings.items():
                    target = admin_pages if url.startswith("/admin/") else product
                    key = f"{label} {url}"
                    target[key] = ms
            _seed_points(wallet, campaign)
            client = Client()
            client.force_login(marketer)
            with_lots = {url: _time(client, url)[0] for url in (f"/wallets/{wallet.pk}/", f"/campaigns/{campaign.pk}/")}
            ctx.note(
                "with the wallet holding a lot for every profile: "
                + "; ".join(f"{url} {ms:.0f} ms" for url, ms in with_lots.items())
            )
            raise _Rollback
    except _Rollback:
        pass
    ranked = sorted(product.items(), key=lambda item: item[1], reverse=True)
    for key, ms in ranked[:10]:
        log(f"pages: {ms:8.1f} ms  {key}")
    slowest_admin = sorted(admin_pages.items(), key=lambda item: item[1], reverse=True)[:5]
    if slowest_admin:
        ctx.note("slowest Django admin pages: " + "; ".join(f"{k} {ms:.0f} ms" for k, ms in slowest_admin))
    p95 = percentile(list(product.values()), 95) if product else None
    slowest = f"{ranked[0][0]} {ranked[0][1]:.0f} ms" if ranked else "no page"
    ctx.note(f"pages: {len(product)} product pages timed (marketer and admin); slowest: {slowest}")
    yield Figure.at_most("pages_p95", p95, "ms", TARGET_MS, note=f"slowest: {slowest}")
