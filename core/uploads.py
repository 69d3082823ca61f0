"""Upload size limit enforced before any code reads a request body (SPEC 8).

Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not cover files, and CsrfViewMiddleware reads
`request.POST` (parsing the whole multipart body, spooling files to disk) before any view
runs, so a check inside a view or form comes too late. This middleware sits before the
CSRF middleware and refuses a body whose Content-Length is over the largest upload any
page accepts (50 MB: custom lists, coupon imports, voucher lists) plus room for the form
fields. WSGI servers never read past Content-Length, so the declared size is the bound.
The API has its own, smaller limit (5 MB, segments/api.py) and answers in JSON.
"""

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string

# Multipart framing and the other form fields around the file.
FORM_SLACK_BYTES = 1024 * 1024


def too_large_message(size: int) -> str:
    limit_mb = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
    return f"The file is {size / (1024 * 1024):.1f} MB; files may be at most {limit_mb} MB."


def declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class UploadSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        size = declared_length(request)
        if size > settings.MAX_UPLOAD_BYTES + FORM_SLACK_BYTES:
            body = render_to_string("413.html", {"message": too_large_message(size)})
            return HttpResponse(body, status=413)
        return self.get_response(request)
