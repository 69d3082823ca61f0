from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from accounts import access
from core.pagination import EstimatedPaginator
from wallets import charts, forms, selectors, services
from wallets.models import Wallet

PAGE_SIZE = 50


@access.marketer_required
def wallet_list(request):
    page = Paginator(selectors.wallet_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "wallets/wallet_list.html", {"page_obj": page, "wallets": page.object_list})


@access.marketer_required
def wallet_create(request):
    form = forms.WalletForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wallet = services.wallet_create(actor=request.user, **form.cleaned_data)
        messages.success(request, f"Wallet “{wallet.name}” created.")
        return redirect(wallet)
    status = 422 if form.errors else 200  # invalid input answers 422, with the form and its errors
    return render(request, "wallets/wallet_form.html", {"form": form, "wallet": None}, status=status)


@access.marketer_required
def wallet_edit(request, pk: int):
    wallet = get_object_or_404(Wallet, pk=pk)
    form = forms.WalletEditForm(request.POST or None, instance=wallet)
    if request.method == "POST" and form.is_valid():
        editable = {k: v for k, v in form.cleaned_data.items() if k not in Wallet.EXPIRY_FIELDS}
        wallet = services.wallet_update(wallet=Wallet.objects.get(pk=pk), actor=request.user, **editable)
        messages.success(request, f"Wallet “{wallet.name}” saved.")
        return redirect(wallet)
    return render(
        request, "wallets/wallet_form.html", {"form": form, "wallet": wallet}, status=422 if form.errors else 200
    )


def _chart_context(request, wallet):
    period_form = forms.ChartPeriodForm(request.GET or None)
    start, end = period_form.period()
    days = selectors.wallet_daily_series(wallet=wallet, start=start, end=end, tz=timezone.get_current_timezone())
    return {
        "period_form": period_form,
        "chart": charts.daily_bars(days),
        "chart_start": start,
        "chart_end": end,
        "chart_days": days,
        "chart_total_issued": sum(d.issued for d in days),
        "chart_total_redeemed": sum(d.redeemed for d in days),
        "chart_total_expired": sum(d.expired for d in days),
    }


@access.marketer_required
def wallet_detail(request, pk: int):
    wallet = get_object_or_404(Wallet.objects.select_related("created_by"), pk=pk)
    history = selectors.wallet_history(wallet=wallet, page=request.GET.get("history_page"))
    if request.htmx and request.htmx.target == "wallet-history":
        return render(request, "wallets/wallet_detail.html#wallet-history", {"wallet": wallet, "history": history})
    context = {"wallet": wallet, "history": history, **_chart_context(request, wallet)}
    status = 422 if context["period_form"].errors else 200  # a period that does not parse: its error on the chart
    if request.htmx:
        return render(request, "wallets/wallet_detail.html#wallet-chart", context, status=status)
    context["totals"] = selectors.wallet_totals(wallet=wallet)
    return render(request, "wallets/wallet_detail.html", context, status=status)


@access.marketer_required
def transaction_list(request, pk: int):
    wallet = get_object_or_404(Wallet, pk=pk)
    filter_form = forms.TransactionFilterForm(request.GET or None)
    txns = selectors.transaction_search(wallet=wallet, **filter_form.search_kwargs())
    # Millions of ledger rows per wallet: "about N" pages from the planner, not a COUNT per view.
    page = EstimatedPaginator(txns, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"wallet": wallet, "filter_form": filter_form, "page_obj": page, "transactions": page.object_list}
    template = "wallets/transaction_list.html"
    if request.htmx:
        template += "#transaction-table"
    # A bad filter (a date the app cannot read) is a bad query string: its errors show above the table.
    return render(request, template, context, status=422 if filter_form.errors else 200)


@access.marketer_required
def wallet_adjust(request, pk: int):
    wallet = get_object_or_404(Wallet, pk=pk)
    form = forms.AdjustForm(request.POST or None, wallet=wallet)
    if request.method == "POST" and form.is_valid():
        try:
            txn = services.wallet_adjust(
                wallet=wallet,
                profile=form.profile,
                kind=form.cleaned_data["kind"],
                points=form.cleaned_data["points"],
                description=form.cleaned_data["description"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            verb = "credited to" if txn.kind != "DEBIT" else "debited from"
            messages.success(
                request,
                f"{txn.points.normalize():f} {wallet.points_name} {verb} {form.profile.identity} (txn {txn.pk}).",
            )
            url = reverse("wallets:transaction_list", args=[wallet.pk])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    template = "wallets/wallet_adjust.html"
    if request.htmx:
        template += "#adjust-form"
    return render(request, template, {"wallet": wallet, "form": form}, status=422 if form.errors else 200)
