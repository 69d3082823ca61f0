"""The partner area (/partner/). Every lookup is scoped to `request.partner`, so a guessed
id of another partner's list or upload is a 404, never a page."""

from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from accounts import access
from vouchers import forms, selectors, upload_views, views
from vouchers.models import VoucherList, VoucherUpload

NS = "partner"


def _get_list(request, pk: int) -> VoucherList:
    return get_object_or_404(VoucherList.objects.select_related("partner"), pk=pk, partner=request.partner)


def _uploads(request):
    """The partner's own uploads: another partner's upload is as absent as a missing one."""
    return VoucherUpload.objects.select_related("voucher_list__partner", "uploaded_by").filter(
        voucher_list__partner=request.partner
    )


def _get_upload(request, pk: int) -> VoucherUpload:
    return get_object_or_404(_uploads(request), pk=pk)


def _upload_or_none(request, pk: int) -> VoucherUpload | None:
    return _uploads(request).filter(pk=pk).first()


@access.partner_required
def partner_home(request):
    lists = list(selectors.voucher_lists_for_partner(partner=request.partner))
    return render(request, "vouchers/partner_home.html", {"partner": request.partner, "lists": lists})


@access.partner_required
def partner_list_create(request):
    return views._create(
        request,
        partner=request.partner,
        ns=NS,
        template="vouchers/voucher_list_form.html",
        extra={"cancel_url": reverse("partner:partner_home"), "partner": request.partner},
    )


@access.partner_required
def partner_list_detail(request, pk: int):
    voucher_list = _get_list(request, pk)
    context = {
        "voucher_list": voucher_list,
        "uploads": selectors.voucher_list_uploads(voucher_list=voucher_list)[:50],
        "upload_form": forms.UploadForm(),
        "ns": NS,
    }
    return render(request, "vouchers/partner_list_detail.html", context)


@access.partner_required
def partner_list_upload(request, pk: int):
    voucher_list = _get_list(request, pk)
    back_url = reverse("partner:partner_list_detail", args=[voucher_list.pk])
    if request.method != "POST":
        return redirect(back_url + "#upload")
    return views._upload_post(request, voucher_list=voucher_list, ns=NS, back_url=back_url)


@access.partner_required
def upload_detail(request, pk: int):
    upload = _upload_or_none(request, pk)
    if upload is None:
        return upload_views.upload_discarded(request, upload_id=pk, partner=request.partner, ns=NS)
    back_url = reverse("partner:partner_list_detail", args=[upload.voucher_list_id])
    return upload_views.upload_detail(request, upload=upload, ns=NS, back_url=back_url)


@access.partner_required
def upload_confirm(request, pk: int):
    return upload_views.upload_action(
        request, upload=_upload_or_none(request, pk), upload_id=pk, partner=request.partner, ns=NS, action="confirm"
    )


@access.partner_required
def upload_cancel(request, pk: int):
    return upload_views.upload_action(
        request, upload=_upload_or_none(request, pk), upload_id=pk, partner=request.partner, ns=NS, action="cancel"
    )


@access.partner_required
def upload_original(request, pk: int):
    return upload_views.upload_download(upload=_get_upload(request, pk), which="original")


@access.partner_required
def upload_errors(request, pk: int):
    return upload_views.upload_download(upload=_get_upload(request, pk), which="errors")
