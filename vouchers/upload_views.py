"""The upload screens shared by the marketer pages and the partner area.

Both callers look the objects up in their own scope first (a partner only ever reaches
its own lists and uploads); these functions get objects already authorised.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django_htmx.http import HttpResponseClientRefresh

from vouchers import selectors, services, upload_files
from vouchers.models import DiscardedVoucherList, VoucherList, VoucherUpload

# Files up to this size are validated inside the request; larger ones by a Celery task.
SYNC_VALIDATE_BYTES = 2 * 1024 * 1024
# Request bodies are refused from their Content-Length, before Django reads the file.
REQUEST_SLACK_BYTES = 1024 * 1024


def request_too_large(request) -> str:
    """The error for a body too large to be an acceptable upload, judged before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    if length > upload_files.MAX_UPLOAD_BYTES + REQUEST_SLACK_BYTES:
        return upload_files.file_too_large_message(length)
    return ""


def upload_urls(ns: str, upload: VoucherUpload) -> dict[str, str]:
    return {
        name: reverse(f"{ns}:upload_{name}", args=[upload.pk])
        for name in ("detail", "confirm", "cancel", "original", "errors")
    }


def upload_start(*, voucher_list: VoucherList, file, user) -> VoucherUpload:
    """Store the file, then validate it now (small) or in the background (large)."""
    background = file.size > SYNC_VALIDATE_BYTES
    upload = services.voucher_upload_create(
        voucher_list=voucher_list, file=file, uploaded_by=user, validate_in_background=background
    )
    if not background:
        return services.voucher_upload_validate(upload=upload)
    return upload


def upload_detail(request, *, upload: VoucherUpload, ns: str, back_url: str):
    context = {"upload": upload, "voucher_list": upload.voucher_list, "urls": upload_urls(ns, upload), "ns": ns}
    context["back_url"] = back_url
    template = "vouchers/upload_detail.html"
    if request.htmx:
        template += "#upload-status"
    return render(request, template, context)


def _discarded_or_404(*, upload_id: int, partner) -> DiscardedVoucherList:
    """What is left of an upload removed with its new list; a partner only ever learns about its own."""
    scope = {"upload_id": upload_id} | ({"partner": partner} if partner is not None else {})
    discarded = DiscardedVoucherList.objects.select_related("partner").filter(**scope).first()
    if discarded is None:
        raise Http404("No such upload.")
    return discarded


def upload_discarded(request, *, upload_id: int, partner, ns: str):
    """The page of an upload whose new list was removed with it (refused, cancelled or failed
    first file): what happened, and a way to create the list again with the same tag."""
    discarded = _discarded_or_404(upload_id=upload_id, partner=partner)
    if request.htmx:
        # The page was polling a Validating / In progress upload: show this page whole instead.
        return HttpResponseClientRefresh()
    create = "partner:partner_list_create" if ns == "partner" else f"{ns}:voucher_list_create"
    fields = {"tag": discarded.tag, "name": discarded.name}
    if ns != "partner":
        fields["partner"] = discarded.partner_id
    query = urlencode(fields)
    context = {"discarded": discarded, "create_url": f"{reverse(create)}?{query}", "ns": ns}
    return render(request, "vouchers/upload_discarded.html", context)


def upload_action(request, *, upload: VoucherUpload | None, upload_id: int, partner, ns: str, action: str):
    """Confirm or cancel an upload. An upload that is gone because its new list was discarded (say,
    cancelled in another tab) answers with its page and a message saying so, not a 404."""
    discarded = _discarded_or_404(upload_id=upload_id, partner=partner) if upload is None else None
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if discarded is not None:
        outcome = {"refused": "was already refused", "failed": "already failed"}.get(
            discarded.outcome, "was already cancelled"
        )
        messages.error(
            request,
            f"This upload can no longer be {'confirmed' if action == 'confirm' else 'cancelled'}: "
            f"it {outcome} and its new list was removed.",
        )
        return redirect(reverse(f"{ns}:upload_detail", args=[upload_id]))
    service = services.voucher_upload_confirm if action == "confirm" else services.voucher_upload_cancel
    try:
        upload = service(upload=upload, actor=request.user)
    except services.VoucherError as exc:
        messages.error(request, exc.messages[0])
    else:
        if action == "confirm":
            messages.success(request, "Processing started. The codes become available when it completes.")
        elif not getattr(upload, "list_discarded", False):
            messages.info(request, "Upload cancelled. No codes were stored.")
    return redirect(reverse(f"{ns}:upload_detail", args=[upload.pk]))


def _download_name(upload: VoucherUpload, suffix: str) -> str:
    stem = slugify(upload.file_name.rsplit(".", 1)[0]) or "codes"
    return f"{stem}{suffix}.csv"


def upload_download(*, upload: VoucherUpload, which: str):
    field = upload.file if which == "original" else upload.error_file
    if not field:
        raise Http404("This upload has no such file.")
    suffix = "" if which == "original" else "-errors"
    return FileResponse(
        field.open("rb"), as_attachment=True, filename=_download_name(upload, suffix), content_type="text/csv"
    )


def codes_download(*, voucher_list: VoucherList):
    rows = selectors.voucher_list_code_rows(voucher_list=voucher_list)
    header = [("code", "status", "identity", "campaign_id", "occurrence", "assigned_at")]

    def data():
        for code, assigned_at, identity, campaign_id, occurrence in rows:
            yield (
                code,
                "distributed" if assigned_at else "available",
                identity or "",
                campaign_id or "",
                occurrence or "",
                timezone.localtime(assigned_at).isoformat() if assigned_at else "",
            )

    response = StreamingHttpResponse(_chain(header, data()))
    response["Content-Type"] = "text/csv; charset=utf-8"
    filename = f"{slugify(voucher_list.partner.name)}-{voucher_list.tag}-codes.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _chain(header, rows):
    yield from upload_files.csv_lines(header)
    yield from upload_files.csv_lines(rows)
