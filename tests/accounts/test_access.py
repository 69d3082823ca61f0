"""Who may open which page: every view carries an access rule, and each rule holds."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.access import ACCESS_ATTR

pytestmark = pytest.mark.django_db

# A value for each kind of URL argument; objects that do not exist are fine, because the
# role check runs before any lookup (a partner gets 403 even for a guessed id).
ARG_VALUES = {"int": "999999", "str": "x", "slug": "x", "uuid": "00000000-0000-0000-0000-000000000000", "path": "x"}


def _walk(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _concrete(route: str) -> str:
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: ARG_VALUES[m.group(1) or "str"], route)
    return "/" + route.lstrip("^").rstrip("$")


def _views_by_rule():
    table = {}
    for route, view in _walk(get_resolver().url_patterns):
        table.setdefault(getattr(view, ACCESS_ATTR, None), []).append(_concrete(route))
    return table


def test_every_view_declares_who_may_open_it():
    undeclared = [route for route, view in _walk(get_resolver().url_patterns) if not hasattr(view, ACCESS_ATTR)]
    assert undeclared == []


@pytest.mark.parametrize("url", _views_by_rule().get("marketer", []))
def test_marketer_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", _views_by_rule().get("marketer", []))
def test_partner_is_refused_on_marketer_pages(partner_client, url):
    assert partner_client.get(url).status_code == 403


@pytest.mark.parametrize("url", _views_by_rule().get("marketer", []))
def test_marketer_and_admin_open_marketer_pages(marketer_client, admin_user, url):
    # Pages with an id argument answer 404 for the made-up id: the role check let them in.
    assert marketer_client.get(url).status_code in (200, 404)
    marketer_client.force_login(admin_user)
    assert marketer_client.get(url).status_code in (200, 404)


@pytest.mark.parametrize("url", _views_by_rule().get("partner", []))
def test_partner_pages_refuse_marketers_and_anonymous(client, marketer, url):
    assert client.get(url).status_code == 302
    client.force_login(marketer)
    assert client.get(url).status_code == 403


def test_partner_opens_the_partner_area(partner_client):
    response = partner_client.get("/partner/")
    assert response.status_code == 200
    assert b"Partner " in response.content


def test_partner_of_an_inactive_partner_is_refused(partner_client, partner_user):
    partner_user.partner_link.partner.is_active = False
    partner_user.partner_link.partner.save()
    assert partner_client.get("/partner/").status_code == 403


@pytest.mark.parametrize("url", _views_by_rule().get("api", []))
def test_api_endpoints_need_an_api_key_not_a_session(client, marketer, url):
    client.force_login(marketer)
    response = client.get(url)
    assert response.status_code in (401, 405)
    assert response.json()["status"] == "fail"


def test_health_page_is_public(client):
    assert client.get("/healthz").status_code == 200


def test_admin_needs_staff(client, marketer, partner_user):
    assert client.get("/admin/").status_code == 302
    client.force_login(marketer)
    assert client.get("/admin/").status_code == 302  # admin's own login page: not staff
    client.force_login(partner_user)
    assert client.get("/admin/").status_code == 302
