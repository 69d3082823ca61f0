from django.shortcuts import render

from config import access


@access.marketer_required
def voucher_list(request):
    return render(request, "vouchers/voucher_list.html")
