from django.urls import path

from promotions import views

app_name = "promotions"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
]

# Public API endpoints, mounted under /api/1/ by config.api_urls.
api_urlpatterns = []
