"""Voucher lists for marketers (/vouchers/): every partner's lists, actions and uploads."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from accounts import access
from vouchers import forms, selectors, services, upload_files, upload_views
from vouchers.models import VoucherList, VoucherUpload

PAGE_SIZE = 25
CODES_PAGE_SIZE = 50
NS = "vouchers"


def _get_list(pk: int) -> VoucherList:
    return get_object_or_404(VoucherList.objects.select_related("partner", "created_by"), pk=pk)


def _get_upload(pk: int) -> VoucherUpload:
    return get_object_or_404(VoucherUpload.objects.select_related("voucher_list__partner", "uploaded_by"), pk=pk)


def _upload_or_none(pk: int) -> VoucherUpload | None:
    return VoucherUpload.objects.select_related("voucher_list__partner", "uploaded_by").filter(pk=pk).first()


@access.marketer_required
def voucher_list(request):
    filters = forms.VoucherListFilterForm(request.GET or None)
    valid = _valid_filters(filters)
    partner = valid.get("partner")
    partner_id, status = (partner.pk if partner else None), valid.get("status", "")
    lists = selectors.voucher_lists_for_marketer(partner_id=partner_id, status=status)
    page = Paginator(lists, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filters": filters, "page_obj": page, "lists": page.object_list, "filtered": bool(partner_id or status)}
    template = "vouchers/voucher_list.html"
    if request.htmx:
        template += "#voucher-table"
    return render(request, template, context, status=422 if filters.errors else 200)


def _refused(form, message: str):
    """An unbound form carrying one error: the request body was refused unread."""
    form.full_clean()  # unbound: sets an empty error dict and returns
    form.cleaned_data = {}
    form.add_error(None, message)
    return form


MSG_FIRST_FILE_REFUSED = "The file was refused, so no list was created: {message}"
MSG_FIRST_FILE_RECEIVED = (
    "File received for the new list “{tag}”. Check the report below: the list becomes active"
    " when its codes are stored, and is not created if the file is refused or the upload cancelled."
)


class _FirstFileRefused(Exception):  # noqa: N818 (control flow: roll the new list back)
    def __init__(self, upload):
        super().__init__(upload.error_message)
        self.upload = upload


def _create(request, *, partner=None, ns: str, template: str, extra: dict):
    error = upload_views.request_too_large(request) if request.method == "POST" else ""
    if error:
        form = _refused(forms.VoucherListCreateForm(partner=partner), error)
        return render(request, template, {"form": form, **extra}, status=413)
    # "Create it again" from a discarded list's page comes with its tag and name filled in.
    initial = {key: request.GET[key][:200] for key in ("tag", "name", "partner") if request.GET.get(key)}
    form = forms.VoucherListCreateForm(request.POST or None, request.FILES or None, partner=partner, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["file"].size > upload_views.SYNC_VALIDATE_BYTES:
                # Validated in the background: refuse at once what its first lines already show, so
                # a wrong file does not leave an empty list behind.
                upload_files.check_head(data["file"])
            with transaction.atomic():
                created = services.voucher_list_create(
                    partner=partner or data["partner"],
                    tag=data["tag"],
                    name=data["name"],
                    description=data["description"],
                    expires_on=data["expires_on"],
                    low_stock_threshold=data["low_stock_threshold"],
                    actor=request.user,
                    pending_first_upload=True,
                )
                upload = upload_views.upload_start(voucher_list=created, file=data["file"], user=request.user)
                if upload.status == VoucherUpload.Status.FAILED:
                    # SPEC 8: a failed upload changes nothing, so the list it would have filled
                    # is not created either (and the same tag can be used again at once).
                    raise _FirstFileRefused(upload)
        except services.VoucherError as exc:
            message = exc.messages[0]
            field = "tag" if "tag" in message else "expires_on" if "expiry" in message else None
            form.add_error(field, message)
        except upload_files.FileRejected as exc:
            form.add_error("file", MSG_FIRST_FILE_REFUSED.format(message=str(exc)))
        except _FirstFileRefused as refused:
            refused.upload.file.delete(save=False)  # stored before the rollback; nothing refers to it now
            if refused.upload.error_file:
                refused.upload.error_file.delete(save=False)
            form.add_error("file", MSG_FIRST_FILE_REFUSED.format(message=refused.upload.error_message))
        else:
            messages.info(request, MSG_FIRST_FILE_RECEIVED.format(tag=created.tag))
            return redirect(reverse(f"{ns}:upload_detail", args=[upload.pk]))
    return render(request, template, {"form": form, **extra}, status=422 if form.errors else 200)


@access.marketer_required
def voucher_list_create(request):
    return _create(
        request, ns=NS, template="vouchers/voucher_list_form.html", extra={"cancel_url": reverse(f"{NS}:voucher_list")}
    )


@access.marketer_required
def voucher_list_detail(request, pk: int):
    voucher_list = _get_list(pk)
    code_filters = forms.CodeFilterForm(request.GET or None)
    valid = _valid_filters(code_filters)
    q, state = valid.get("q", "").strip(), valid.get("state", "")
    codes = selectors.voucher_list_codes(voucher_list=voucher_list, q=q, state=state)
    codes_page = Paginator(codes, CODES_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "voucher_list": voucher_list,
        "code_filters": code_filters,
        "page_obj": codes_page,
        "codes": codes_page.object_list,
    }
    status = 422 if code_filters.errors else 200
    if request.htmx and request.htmx.target == "codes-table":
        return render(request, "vouchers/voucher_list_detail.html#codes-table", context, status=status)
    context.update(
        {
            "uploads": selectors.voucher_list_uploads(voucher_list=voucher_list)[:50],
            "linked_campaigns": selectors.voucher_list_linked_campaigns(voucher_list=voucher_list, limit=50),
            "events": selectors.voucher_list_events(voucher_list=voucher_list),
            "upload_form": forms.UploadForm(),
            "ns": NS,
        }
    )
    return render(request, "vouchers/voucher_list_detail.html", context, status=status)


@access.marketer_required
def voucher_list_edit(request, pk: int):
    voucher_list = _get_list(pk)
    form = forms.VoucherListEditForm(request.POST or None, instance=VoucherList.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.voucher_list_update(
                voucher_list=voucher_list,
                name=data["name"],
                description=data["description"],
                expires_on=data["expires_on"],
                low_stock_threshold=data["low_stock_threshold"],
                actor=request.user,
            )
        except services.VoucherError as exc:
            message = exc.messages[0]
            form.add_error("expires_on" if "expiry" in message else None, message)
        else:
            messages.success(request, "Voucher list saved.")
            return redirect(voucher_list.get_absolute_url())
    context = {"form": form, "voucher_list": voucher_list}
    return render(request, "vouchers/voucher_list_edit.html", context, status=422 if form.errors else 200)


ACTIONS = {
    "pause": (services.voucher_list_pause, "List paused. Campaigns stop giving its codes."),
    "activate": (services.voucher_list_activate, "List activated."),
    "archive": (services.voucher_list_archive, "List archived. Its codes may be uploaded again to another list."),
}


@access.marketer_required
def voucher_list_action(request, pk: int, action: str):
    voucher_list = _get_list(pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    service, success = ACTIONS[action]
    try:
        service(voucher_list=voucher_list, actor=request.user)
    except services.VoucherError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, success)
    return redirect(voucher_list.get_absolute_url())


@access.marketer_required
def voucher_list_upload(request, pk: int):
    voucher_list = _get_list(pk)
    if request.method != "POST":
        return redirect(voucher_list.get_absolute_url() + "#upload")
    return _upload_post(request, voucher_list=voucher_list, ns=NS, back_url=voucher_list.get_absolute_url())


def _upload_post(request, *, voucher_list, ns, back_url):
    error = upload_views.request_too_large(request)
    form = _refused(forms.UploadForm(), error) if error else forms.UploadForm(request.POST, request.FILES)
    if not error and form.is_valid():
        try:
            upload = upload_views.upload_start(
                voucher_list=voucher_list, file=form.cleaned_data["file"], user=request.user
            )
        except services.VoucherError as exc:
            form.add_error("file", exc.messages[0])
        else:
            return redirect(reverse(f"{ns}:upload_detail", args=[upload.pk]))
    context = {"voucher_list": voucher_list, "upload_form": form, "ns": ns, "back_url": back_url}
    return render(request, "vouchers/upload_form.html", context, status=413 if error else 422)


def _valid_filters(form) -> dict:
    """The filters of a query string that parsed; one that did not is shown with its error (422)
    and the others still apply."""
    if not form.is_bound:
        return {}
    form.is_valid()
    return form.cleaned_data


@access.marketer_required
def voucher_list_codes_csv(request, pk: int):
    return upload_views.codes_download(voucher_list=_get_list(pk))


@access.marketer_required
def upload_detail(request, pk: int):
    upload = _upload_or_none(pk)
    if upload is None:
        return upload_views.upload_discarded(request, upload_id=pk, partner=None, ns=NS)
    return upload_views.upload_detail(request, upload=upload, ns=NS, back_url=upload.voucher_list.get_absolute_url())


@access.marketer_required
def upload_confirm(request, pk: int):
    return upload_views.upload_action(
        request, upload=_upload_or_none(pk), upload_id=pk, partner=None, ns=NS, action="confirm"
    )


@access.marketer_required
def upload_cancel(request, pk: int):
    return upload_views.upload_action(
        request, upload=_upload_or_none(pk), upload_id=pk, partner=None, ns=NS, action="cancel"
    )


@access.marketer_required
def upload_original(request, pk: int):
    return upload_views.upload_download(upload=_get_upload(pk), which="original")


@access.marketer_required
def upload_errors(request, pk: int):
    return upload_views.upload_download(upload=_get_upload(pk), which="errors")
