from django.shortcuts import render

from config import access


@access.marketer_required
def coupon_list(request):
    return render(request, "coupons/coupon_list.html")
