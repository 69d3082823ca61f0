from django.shortcuts import render

from config import access


@access.marketer_required
def campaign_list(request):
    return render(request, "promotions/campaign_list.html")
