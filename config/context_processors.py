from accounts.access import user_roles
from accounts.account import timezone_label


def account(request):
    tz = getattr(request, "account_tz", None)
    return {
        "account_timezone_label": timezone_label(tz) if tz else "",
        "roles": user_roles(request.user) if hasattr(request, "user") else frozenset(),
    }
