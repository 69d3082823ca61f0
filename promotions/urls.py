from django.urls import path

from promotions import views

app_name = "promotions"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_new, name="campaign_new"),
    path("new/start/", views.campaign_new_start, name="campaign_new_start"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/progress/", views.campaign_progress, name="campaign_progress"),
    path("<int:pk>/grants.csv", views.campaign_grants_csv, name="campaign_grants_csv"),
    path("<int:pk>/edit/", views.campaign_builder, name="campaign_builder"),
    path("<int:pk>/edit/<str:section>/", views.campaign_section, name="campaign_section"),
    path("<int:pk>/publish/", views.campaign_publish, name="campaign_publish"),
    path("<int:pk>/forecast/", views.campaign_forecast, name="campaign_forecast"),
    path("<int:pk>/outcome/refresh/", views.campaign_outcome_refresh, name="campaign_outcome_refresh"),
    path("<int:pk>/<str:action>/", views.campaign_action, name="campaign_action"),
]
