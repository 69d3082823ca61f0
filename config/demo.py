"""Demo users for `make run`: admin, marketer and partner, with passwords kept in var/."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from config.access import MARKETER_GROUP, PARTNER_GROUP

CREDENTIALS_FILE = settings.VAR_DIR / "demo-credentials.txt"
DEMO_PARTNER_NAME = "ShopCo"


def _passwords() -> dict[str, str]:
    if CREDENTIALS_FILE.exists():
        pairs = (line.split(" ", 1) for line in CREDENTIALS_FILE.read_text().splitlines() if " " in line)
        return dict(pairs)
    return {}


def load(stdout) -> dict[str, str]:
    """Create (or keep) the three demo users; returns username → password."""
    from vouchers.models import Partner, PartnerUser

    user_model = get_user_model()
    passwords = _passwords()
    for username in ("admin", "marketer", "partner"):
        passwords.setdefault(username, secrets.token_urlsafe(9))
    CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CREDENTIALS_FILE.write_text("".join(f"{u} {p}\n" for u, p in passwords.items()))
    CREDENTIALS_FILE.chmod(0o600)

    admin, _ = user_model.objects.get_or_create(username="admin", defaults={"first_name": "Ada", "last_name": "Admin"})
    admin.is_staff = admin.is_superuser = True
    marketer, _ = user_model.objects.get_or_create(
        username="marketer", defaults={"first_name": "Maya", "last_name": "Marketer"}
    )
    marketer.groups.add(Group.objects.get(name=MARKETER_GROUP))
    partner_user, _ = user_model.objects.get_or_create(
        username="partner", defaults={"first_name": "Pat", "last_name": "Partner"}
    )
    partner_user.groups.add(Group.objects.get(name=PARTNER_GROUP))
    partner, _ = Partner.objects.get_or_create(name=DEMO_PARTNER_NAME)
    PartnerUser.objects.get_or_create(user=partner_user, defaults={"partner": partner})
    for user in (admin, marketer, partner_user):
        user.set_password(passwords[user.username])
        user.save()
    return passwords
