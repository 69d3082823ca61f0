"""The notification area: a badge in the navigation (loaded by HTMX so pages pay no query for
it), the list, and mark-read. Every signed-in person sees only their own notifications."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import access
from webhooks import selectors, services


@access.any_signed_in
@require_http_methods(["GET"])
def notification_badge(request):
    return render(request, "webhooks/notification_list.html#notification-badge", _context(request, badge_only=True))


@access.any_signed_in
@require_http_methods(["GET"])
def notification_list(request):
    return render(request, "webhooks/notification_list.html", _context(request))


@access.any_signed_in
@require_POST
def notification_mark_read(request):
    ids = request.POST.getlist("id") or None
    services.notification_mark_read(user=request.user, ids=[int(i) for i in ids if i.isdigit()] if ids else None)
    if request.htmx:
        return render(request, "webhooks/notification_list.html#notification-area", _context(request))
    return redirect("webhooks:notification_list")


def _context(request, *, badge_only: bool = False) -> dict:
    context = {"unread": selectors.unread_count(user=request.user)}
    if not badge_only:
        context["notifications"] = selectors.notifications_for(user=request.user)
    return context
