from django.shortcuts import render

from config import access


@access.marketer_required
def wallet_list(request):
    return render(request, "wallets/wallet_list.html")
