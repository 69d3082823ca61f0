"""Who may open which page (SPEC 1).

Every view in the URL conf carries exactly one of these decorators; a test walks the URL
conf and fails on any view without one, so a new page cannot forget its access rule.
Login itself is enforced by Django's LoginRequiredMiddleware.
"""

from functools import wraps

from django.apps import apps
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

MARKETER = "marketer"
PARTNER = "partner"
ADMIN = "admin"
MARKETER_GROUP = "Marketer"
PARTNER_GROUP = "Partner"

# What each decorator marks on the view, read by the URL-walking access test.
ACCESS_ATTR = "access_rule"


def user_roles(user) -> frozenset[str]:
    """The roles of a signed-in user, computed once per request and kept on the user."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_promo_roles", None)
    if cached is not None:
        return cached
    roles = set()
    if user.is_staff:
        roles.update({ADMIN, MARKETER})
    groups = set(user.groups.values_list("name", flat=True))
    if MARKETER_GROUP in groups:
        roles.add(MARKETER)
    if PARTNER_GROUP in groups:
        roles.add(PARTNER)
    user._promo_roles = frozenset(roles)
    return user._promo_roles


def _mark(view, rule):
    setattr(view, ACCESS_ATTR, rule)
    return view


def marketer_required(view):
    """Marketers and admins; partners and anyone else get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if MARKETER not in user_roles(request.user):
            raise PermissionDenied("This page is for marketers.")
        return view(request, *args, **kwargs)

    return _mark(wrapped, MARKETER)


def partner_required(view):
    """Partner users linked to a partner; sets `request.partner` to that partner."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if PARTNER not in user_roles(request.user):
            raise PermissionDenied("This page is for partners.")
        # Partners are vouchers' (an app above accounts): named by app label, never imported.
        partner_user = apps.get_model("vouchers", "PartnerUser")
        link = partner_user.objects.select_related("partner").filter(user=request.user).first()
        if link is None or not link.partner.is_active:
            raise PermissionDenied("Your account is not linked to an active partner.")
        request.partner = link.partner
        return view(request, *args, **kwargs)

    return _mark(wrapped, PARTNER)


def any_signed_in(view):
    """Any signed-in user (the home page, which sends each role to its own area)."""
    return _mark(view, "signed-in")


def public(view):
    """Reachable without a session: the health page only (the API has its own keys)."""
    return _mark(login_not_required(view), "public")


def home_for(user) -> str:
    roles = user_roles(user)
    if MARKETER in roles:
        return "promotions:campaign_list"
    if PARTNER in roles:
        return "partner:partner_home"
    return ""


def redirect_home(user):
    target = home_for(user)
    if not target:
        raise PermissionDenied("Your account has no role yet. Ask an admin to add you to Marketer or Partner.")
    return redirect(target)
