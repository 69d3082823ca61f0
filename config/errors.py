"""Error pages: 403 for a refused role, 404 for an unknown page, 503 when the database is
unreachable, 500 otherwise.

The 500 and 503 pages are plain templates that touch no database (no user, no roles), so
they still render when the database is what failed.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

logger = logging.getLogger("promo.errors")

DATABASE_UNAVAILABLE = "The database is not reachable right now; nothing was changed. Try again in a minute."
RETRY_AFTER_SECONDS = 30


class OneLineForbidden(logging.Filter):
    """Drops the traceback Django attaches to its "Forbidden" log line (PermissionDenied)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


def forbidden(request, exception=None):
    message = str(exception) if exception and str(exception) else "You do not have access to this page."
    return render(request, "403.html", {"message": message}, status=403)


NOT_FOUND_API = "No such endpoint: see /api/1/docs for the API's URLs."


def not_found(request, exception=None):
    """The app's own 404 page (with DEBUG off; Django's technical page shows with it on); the
    API answers in its own envelope."""
    if request.path.startswith("/api/"):
        return JsonResponse({"status": "fail", "code": 404, "error": NOT_FOUND_API}, status=404)
    return render(request, "404.html", {"request_path": request.path}, status=404)


class ApiNotFoundMiddleware:
    """A URL under /api/ that matches nothing answers the API's JSON 404 with DEBUG on too (as under
    `make run`), where Django answers with its technical HTML page before `handler404` is asked.
    An API view's own 404 (an unknown wallet, say) is JSON already and passes through."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return not_found(request)
        return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection into 503 (HTML page or API JSON) with Retry-After.

    The failed request's transaction was rolled back by `atomic()` before the exception got
    here, so answering "nothing was changed" is true.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable on %s %s", request.method, request.path, exc_info=exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"status": "fail", "code": 503, "error": DATABASE_UNAVAILABLE}, status=503)
        else:
            body = render_to_string("503.html", {"message": DATABASE_UNAVAILABLE})
            response = HttpResponse(body, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
