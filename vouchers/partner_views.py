from django.shortcuts import render

from config import access


@access.partner_required
def partner_home(request):
    return render(request, "vouchers/partner_home.html", {"partner": request.partner})
