import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from accounts.account import timezone_label
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders_for_anonymous(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_marketer_signs_in_and_lands_on_campaigns_with_navigation(client):
    UserFactory(username="mia", groups=["Marketer"], password="s3cret-pass-word")
    response = client.post("/accounts/login/", {"username": "mia", "password": "s3cret-pass-word"}, follow=True)
    assert response.redirect_chain[-1][0] == "/campaigns/"
    html = response.content.decode()
    for label in ("Campaigns", "Audience", "Wallets", "Coupons", "Vouchers"):
        assert f">{label}</a>" in html
    assert ">Admin</a>" not in html
    assert "htmx" in html and "X-CSRFToken" in html


def test_admin_sees_the_admin_link(admin_client_):
    assert ">Admin</a>" in admin_client_.get("/campaigns/").content.decode()


def test_partner_signs_in_and_lands_in_the_partner_area(client, partner_user):
    response = client.post("/accounts/login/", {"username": "pat", "password": "correct-horse-battery"}, follow=True)
    assert response.redirect_chain[-1][0] == "/partner/"
    assert ">Campaigns</a>" not in response.content.decode()


def test_wrong_password_shows_an_error(client, marketer):
    response = client.post("/accounts/login/", {"username": "maya", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_user_without_a_role_is_told_so(client):
    client.force_login(UserFactory(username="nobody"))
    response = client.get("/")
    assert response.status_code == 403
    assert b"no role yet" in response.content


def test_logout_signs_out(marketer_client):
    response = marketer_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert marketer_client.get("/campaigns/").status_code == 302


def test_pages_show_the_account_timezone_label(marketer_client):
    assert "(GMT+05:30) Asia/Kolkata" in marketer_client.get("/campaigns/").content.decode()


def test_timezone_label_follows_daylight_saving():
    import datetime
    import zoneinfo

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    winter = datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC)
    summer = datetime.datetime(2026, 7, 15, tzinfo=datetime.UTC)
    assert timezone_label(berlin, winter) == "(GMT+01:00) Europe/Berlin"
    assert timezone_label(berlin, summer) == "(GMT+02:00) Europe/Berlin"
    assert timezone_label(zoneinfo.ZoneInfo("America/St_Johns"), winter) == "(GMT-03:30) America/St_Johns"


def test_profile_pages_render_in_the_account_timezone(marketer_client):
    import datetime

    from tests.segments.factories import ProfileFactory

    profile = ProfileFactory(identity="u-tz", first_seen=datetime.datetime(2026, 1, 1, 20, 0, tzinfo=datetime.UTC))
    html = marketer_client.get(f"/audience/profiles/{profile.pk}/").content.decode()
    assert "First seen 2 Jan 2026, 01:30" in html  # 20:00 UTC is 01:30 next day in Kolkata


def test_setup_demo_creates_the_three_roles_and_runs_twice(capsys):
    from django.contrib.auth import get_user_model

    call_command("setup_demo")
    call_command("setup_demo", port=8311)
    out = capsys.readouterr().out
    # The URL `make run` really serves (PORT).
    assert "Demo logins (http://127.0.0.1:8311/accounts/login/):" in out
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["admin", "marketer", "partner"])}
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert users["marketer"].groups.filter(name="Marketer").exists()
    assert users["partner"].partner_link.partner.name == "ShopCo"
    for name in ("admin", "marketer", "partner"):
        assert name in out
    from segments.models import Profile

    assert Profile.objects.filter(identity__startswith="demo-").count() == 500


def test_production_profile_passes_check_deploy():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},  # set by the browser tests
        "DJANGO_PROFILE": "production",
        "SECRET_KEY": "k" * 20 + "-production-test-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "promo.example.com",
        "DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_profile_refuses_to_start_without_a_secret_key():
    env = {**os.environ, "DJANGO_PROFILE": "production", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_second_make_run_keeps_everyone_signed_in(client):
    """setup_demo runs at every `make run`: the same password keeps its hash, so the session of a
    marketer signed in before the restart is still valid after it."""
    from accounts.demo import CREDENTIALS_FILE

    call_command("setup_demo")
    password = dict(line.split() for line in CREDENTIALS_FILE.read_text().splitlines())["marketer"]
    assert client.post("/accounts/login/", {"username": "marketer", "password": password}).status_code == 302
    assert client.get("/campaigns/").status_code == 200

    call_command("setup_demo")

    assert client.get("/campaigns/").status_code == 200  # not sent back to the sign-in page
