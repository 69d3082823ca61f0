"""Demo users for `make run`: admin, marketer and partner, with passwords kept in var/.

The partner user's link to its partner is vouchers' demo data (vouchers/demo.py): partners live there."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.access import MARKETER_GROUP, PARTNER_GROUP

CREDENTIALS_FILE = settings.VAR_DIR / "demo-credentials.txt"
PARTNER_USERNAME = "partner"


def _passwords() -> dict[str, str]:
    if CREDENTIALS_FILE.exists():
        pairs = (line.split(" ", 1) for line in CREDENTIALS_FILE.read_text().splitlines() if " " in line)
        return dict(pairs)
    return {}


def load(stdout) -> dict[str, str]:
    """Create (or keep) the three demo users; returns username → password."""
    user_model = get_user_model()
    passwords = _passwords()
    for username in ("admin", "marketer", PARTNER_USERNAME):
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
        username=PARTNER_USERNAME, defaults={"first_name": "Pat", "last_name": "Partner"}
    )
    partner_user.groups.add(Group.objects.get(name=PARTNER_GROUP))
    for user in (admin, marketer, partner_user):
        # A rerun keeps the hash when the password is unchanged: a new salt would change the
        # session auth hash and sign out everyone signed in before the restart.
        if not user.check_password(passwords[user.username]):
            user.set_password(passwords[user.username])
        user.save()
    return passwords
