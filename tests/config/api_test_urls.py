"""A URL conf with one protected API view, to test the shared API authentication alone."""

from django.http import JsonResponse
from django.urls import path

from config.api import api_view


@api_view("GET", "POST")
def whoami(request):
    return JsonResponse({"status": "success", "key": request.api_key.key_id})


urlpatterns = [path("api/1/whoami", whoami)]
