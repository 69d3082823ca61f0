"""Security matrix (SPEC 1, 8; issue 9): CSRF on every form, upload size before reading,
no secrets in the repository. (Roles per URL: test_access.py; check --deploy:
test_login_and_layout.py; API keys hashed: test_api.py; rate limit: test_rate_limit.py.)"""

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from coupons.models import CouponCode
from segments import services as segment_services
from segments.models import CustomList, CustomListUpload
from tests.coupons.factories import BulkCouponFactory
from tests.factories import UserFactory
from tests.promotions.factories import SegmentFactory
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import PartnerUserFactory, VoucherListFactory
from tests.wallets.factories import WalletFactory
from vouchers import services as voucher_services
from vouchers.models import VoucherList, VoucherUpload

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


# --- Pages with real objects, so detail pages render their forms -----------------------------


@pytest.fixture
def world(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    marketer = UserFactory(username="maya", groups=["Marketer"])
    link = PartnerUserFactory(user__username="pat", partner__name="ShopCo")
    profile = ProfileFactory(identity="u1")
    custom_list_upload = segment_services.custom_list_upload_start(
        uploaded_file=SimpleUploadedFile("vip.csv", b"Type,Identity\ni,u1\n"), actor=marketer, name="VIP"
    )
    voucher_list = VoucherListFactory(partner=link.partner, tag="festive")
    voucher_upload = voucher_services.voucher_upload_create(
        voucher_list=voucher_list, file=SimpleUploadedFile("codes.csv", b"code\nA1\n"), uploaded_by=link.user
    )
    campaign = campaign_past(user=marketer, name="Welcome")
    ids = {
        "campaigns": campaign.pk,
        "audience/profiles": profile.pk,
        "audience/segments": SegmentFactory(name="Pune").pk,
        "audience/lists": custom_list_upload.custom_list_id,
        "wallets": WalletFactory().pk,
        "coupons": BulkCouponFactory().pk,
        "vouchers/uploads": voucher_upload.pk,
        "vouchers": voucher_list.pk,
        "partner/lists": voucher_list.pk,
        "partner/uploads": voucher_upload.pk,
    }
    return {"marketer": marketer, "partner": link.user, "ids": ids, "upload_pk": custom_list_upload.pk}


def _routes():
    def walk(entries, prefix=""):
        for entry in entries:
            if isinstance(entry, URLResolver):
                if entry.app_name != "admin":
                    yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback

    return list(walk(get_resolver().url_patterns))


def _concrete(route: str, ids: dict) -> str:
    prefix = max((p for p in ids if route.startswith(p)), key=len, default=None)
    pk = ids.get(prefix, 999999)
    route = route.replace("<int:upload_pk>", str(ids.get("upload_pk", 999999)))
    route = re.sub(r"<int:\w+>", str(pk), route)
    route = re.sub(r"<(?:str|slug):\w+>", "x", route)
    return "/" + route


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self._open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._open = {
                "method": (attrs.get("method") or "get").lower(),
                "action": attrs.get("action"),
                "enctype": attrs.get("enctype", ""),
                "csrf": False,
            }
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and attrs.get("name") == "csrfmiddlewaretoken":
            self._open["csrf"] = bool(attrs.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def _pages(client, ids, rule):
    for route, view in _routes():
        if getattr(view, "access_rule", None) != rule:
            continue
        url = _concrete(route, ids)
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield url, response.content.decode()


def test_every_post_form_on_every_page_carries_a_csrf_token(client, world):
    ids = {**world["ids"], "upload_pk": world["upload_pk"]}
    missing, post_forms, htmx_pages = [], 0, 0
    for user, rule in ((world["marketer"], "marketer"), (world["partner"], "partner")):
        client.force_login(user)
        for url, html in _pages(client, ids, rule):
            parser = _Forms()
            parser.feed(html)
            for form in parser.forms:
                if form["method"] == "post":
                    post_forms += 1
                    if not form["csrf"]:
                        missing.append((url, form["action"]))
            # HTMX requests send the token from <body hx-headers>, for hx-post outside forms.
            if "hx-post" in html and "<body" in html:
                htmx_pages += 1
                assert re.search(r"<body[^>]*hx-headers='\{\"X-CSRFToken\": \"\w+\"\}'", html), url
    assert missing == []
    assert post_forms >= 15 and htmx_pages >= 3  # the walk really reached the forms


def test_a_post_without_a_csrf_token_is_refused_on_every_page(world):
    refused, accepted = 0, []
    for user, rules in ((world["marketer"], {"marketer", "signed-in"}), (world["partner"], {"partner"})):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        for route, view in _routes():
            if getattr(view, "access_rule", None) not in rules:
                continue
            url = _concrete(route, {**world["ids"], "upload_pk": world["upload_pk"]})
            response = client.post(url, {"name": "x"})
            if response.status_code == 403 and b"CSRF" in response.content:
                refused += 1
            else:
                accepted.append((url, response.status_code))
    anonymous = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "maya", "password": "x"})
    assert anonymous.status_code == 403
    assert accepted == []
    assert refused >= 40


# --- Uploads are size-limited before anything reads them -------------------------------------

UPLOAD_ENDPOINTS = [
    ("marketer", "/audience/lists/"),
    ("marketer", "/audience/lists/{list}/"),
    ("marketer", "/coupons/{coupon}/import/"),
    ("marketer", "/vouchers/new/"),
    ("marketer", "/vouchers/{voucher_list}/upload/"),
    ("partner", "/partner/lists/new/"),
    ("partner", "/partner/lists/{voucher_list}/upload/"),
]


def _counts():
    return (
        CustomList.objects.count(),
        CustomListUpload.objects.count(),
        CouponCode.objects.count(),
        VoucherList.objects.count(),
        VoucherUpload.objects.count(),
    )


def _upload_urls(world) -> dict[str, str]:
    names = {"list": world["ids"]["audience/lists"], "coupon": world["ids"]["coupons"]}
    names["voucher_list"] = world["ids"]["vouchers"]
    return {template: template.format(**names) for _role, template in UPLOAD_ENDPOINTS}


@pytest.mark.parametrize(("role", "template"), UPLOAD_ENDPOINTS)
def test_an_oversized_upload_is_refused_before_the_body_is_read(world, monkeypatch, role, template):
    # A real browser session: CSRF enforced, token sent in the header as HTMX does.
    client = Client(enforce_csrf_checks=True)
    client.force_login(world[role])
    url = _upload_urls(world)[template]
    client.get(url)
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    before = _counts()

    def must_not_read(self):
        raise AssertionError("the request body was read")

    monkeypatch.setattr(WSGIRequest, "_load_post_and_files", must_not_read)
    size = 60 * 1024 * 1024
    response = client.post(
        url,
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=str(size),
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 413
    assert "The file is 60.0 MB; files may be at most 50 MB." in response.content.decode()
    assert _counts() == before


def test_every_upload_form_is_in_the_size_limit_table(client, world):
    ids = {**world["ids"], "upload_pk": world["upload_pk"]}
    covered = set(_upload_urls(world).values())
    found = set()
    for user, rule in ((world["marketer"], "marketer"), (world["partner"], "partner")):
        client.force_login(user)
        for url, html in _pages(client, ids, rule):
            parser = _Forms()
            parser.feed(html)
            found |= {form["action"] or url for form in parser.forms if "multipart" in form["enctype"]}
    assert found and found <= covered, found - covered


def test_a_body_just_under_the_limit_reaches_the_page(world):
    client = Client()
    client.force_login(world["marketer"])
    response = client.post(
        "/audience/lists/", {"name": "Small", "file": SimpleUploadedFile("s.csv", b"Type,Identity\ni,u1\n")}
    )
    assert response.status_code == 302


# --- No secrets in the repository -----------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    "Stripe live key": re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
    "password in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\{)[^/\s@'\"]{3,}@(?!127\.0\.0\.1|localhost)"
    ),
    "SECRET_KEY literal": re.compile(r"""SECRET_KEY\s*[=:]\s*['"](?!dev-insecure-)[^'"\s]{16,}['"]"""),
    "API secret printed into a file": re.compile(r"\bpk_[0-9a-f]{16}\s+[A-Za-z0-9_-]{43}\b"),
}
NEVER_TRACKED = [re.compile(p) for p in (r"(^|/)\.env$", r"^var/", r"demo-credentials", r"\.sqlite3$", r"\.pem$")]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_no_secret_looking_strings_in_tracked_files():
    found = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".jpg", ".gif", ".ico", ".woff2"}:
            continue
        text = path.read_text(errors="ignore")
        found += [(name, what) for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_no_env_files_databases_or_demo_credentials_are_tracked():
    assert [n for n in _tracked_files() if any(p.search(n) for p in NEVER_TRACKED)] == []


def test_the_secret_scan_catches_what_it_claims_to():
    # Built from pieces, so this file does not itself trip the scan of tracked files.
    samples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
        "password in a URL": "redis://admin:" + "hunter22@redis.example.com:6379/0",
        "SECRET_KEY literal": "SECRET_KEY = " + '"k3j4h5g6f7d8s9a0q1w2e3r4"',
    }
    for what, text in samples.items():
        assert SECRET_PATTERNS[what].search(text), what
    assert not SECRET_PATTERNS["password in a URL"].search("postgres://postgres@127.0.0.1:5432/promo")
    assert not SECRET_PATTERNS["SECRET_KEY literal"].search('SECRET_KEY = env("SECRET_KEY", "")')
