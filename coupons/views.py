import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from accounts import access
from core.csv_safety import csv_safe
from coupons import forms, selectors, services
from coupons.models import Coupon

PAGE_SIZE = 50
CODES_PAGE_SIZE = 50


@access.marketer_required
def coupon_list(request):
    tab = "archived" if request.GET.get("tab") == "archived" else "available"
    coupon_filter = forms.CouponFilter(request.GET or None, queryset=selectors.coupon_list(tab=tab))
    page = Paginator(coupon_filter.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filter": coupon_filter, "page_obj": page, "coupons": page.object_list, "tab": tab}
    template = "coupons/coupon_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#coupon-table"
    # A filter that does not parse (a hand-edited address) is named above the table; the rest apply.
    return render(request, template, context, status=422 if coupon_filter.errors else 200)


def _form_response(request, form, coupon=None):
    template = "coupons/coupon_form.html"
    if request.htmx:
        template += "#coupon-form"
    status = 422 if form.is_bound and form.errors else 200
    return render(request, template, {"form": form, "coupon": coupon}, status=status)


@access.marketer_required
def coupon_create(request):
    kind = request.POST.get("kind") or request.GET.get("kind")
    if request.method == "POST":
        form = forms.CouponForm(request.POST, kind=kind)
        if form.is_valid():
            coupon = services.coupon_create(data=form.cleaned_data, actor=request.user)
            messages.success(request, f"Coupon “{coupon.name}” created as a draft.")
            return _redirect(request, coupon.get_absolute_url())
    elif request.GET.get("switch"):
        # The kind radio changed: re-render the form for the new kind, keeping what was typed.
        typed = {k: v for k, v in request.GET.items() if k not in ("csrfmiddlewaretoken", "switch", "kind")}
        form = forms.CouponForm(initial=typed, kind=kind)
    else:
        form = forms.CouponForm(kind=kind)
    return _form_response(request, form)


@access.marketer_required
def coupon_edit(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    if coupon.status == Coupon.Status.ARCHIVED:
        messages.error(request, services.ERR_ARCHIVED_READ_ONLY)
        return redirect(coupon)
    if request.method == "POST":
        form = forms.CouponForm(request.POST, instance=Coupon.objects.get(pk=pk))
        if form.is_valid():
            try:
                services.coupon_update(coupon=coupon, data=form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Coupon saved.")
                return _redirect(request, coupon.get_absolute_url())
    else:
        form = forms.CouponForm(instance=coupon)
    return _form_response(request, form, coupon)


def _redirect(request, url):
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _detail_context(request, coupon, **extra):
    codes_page = Paginator(selectors.coupon_codes(coupon=coupon), CODES_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "coupon": coupon,
        "actions": services.coupon_actions(coupon=coupon),
        "codes_page": codes_page,
        "page_obj": codes_page,
        "history": selectors.coupon_history(coupon=coupon),
        "batches": selectors.coupon_batches(coupon=coupon),
        "running": selectors.coupon_running_batch(coupon=coupon),
        "generate_form": extra.pop("generate_form", None) or forms.GenerateForm(),
        "import_form": extra.pop("import_form", None) or forms.ImportForm(),
        **extra,
    }


@access.marketer_required
def coupon_detail(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    context = _detail_context(request, coupon)
    template = "coupons/coupon_detail.html"
    if request.htmx and request.htmx.target == "coupon-codes":
        template += "#coupon-codes"
    return render(request, template, context)


@access.marketer_required
def coupon_progress(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    context = {"coupon": coupon, "running": selectors.coupon_running_batch(coupon=coupon)}
    if context["running"] is None and request.htmx:
        # Finished: reload the page so stats and the codes table show the new codes.
        return HttpResponseClientRefresh()
    return render(request, "coupons/coupon_detail.html#generation-progress", context)


@access.marketer_required
def coupon_action(request, pk: int, action: str):
    coupon = get_object_or_404(Coupon, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action not in services.TRANSITIONS:
        messages.error(request, "Unknown action.")
        return redirect(coupon)
    try:
        coupon = services.coupon_transition(coupon=coupon, action=action, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Coupon is now {coupon.get_status_display()}.")
    return redirect(coupon)


@access.marketer_required
def coupon_generate(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = forms.GenerateForm(request.POST)
    if form.is_valid():
        try:
            services.code_generation_start(coupon=coupon, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("count" if exc.code == "capacity" else None, exc)
        else:
            messages.success(request, f"Generating {form.cleaned_data['count']:,} codes.")
            return redirect(coupon)
    return render(
        request, "coupons/coupon_detail.html", _detail_context(request, coupon, generate_form=form), status=422
    )


@access.marketer_required
def coupon_import(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = forms.ImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            batch = services.code_import_start(coupon=coupon, upload=form.cleaned_data["file"], actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            if batch.requested:
                messages.success(request, f"Importing {batch.requested:,} codes from {batch.file_name}.")
            else:
                messages.success(request, f"Checking and importing {batch.file_name}.")
            return redirect(coupon)
    return render(request, "coupons/coupon_detail.html", _detail_context(request, coupon, import_form=form), status=422)


def _csv_cell(value) -> str:
    """Dates in the account timezone, every cell formula-safe."""
    if hasattr(value, "isoformat"):
        value = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return csv_safe(value)


class _Echo:
    def write(self, value):
        return value


EXPORT_HEADER = [
    "code",
    "assigned_at",
    "identity",
    "campaign",
    "occurrence",
    "redeemable_from",
    "expires_at",
    "redemptions",
    "redeemed_at",
]


@access.marketer_required
def coupon_codes_download(request, pk: int):
    coupon = get_object_or_404(Coupon, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(EXPORT_HEADER)
        for row in selectors.coupon_export_rows(coupon=coupon):
            yield writer.writerow([_csv_cell(v) for v in row])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="coupon-{coupon.pk}-codes.csv"'
    return response
