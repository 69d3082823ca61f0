from django.urls import path

from promotions.views import builder, campaigns, reports

app_name = "promotions"

urlpatterns = [
    path("", campaigns.campaign_list, name="campaign_list"),
    path("new/", builder.campaign_new, name="campaign_new"),
    path("new/start/", builder.campaign_new_start, name="campaign_new_start"),
    path("<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("<int:pk>/progress/", reports.campaign_progress, name="campaign_progress"),
    path("<int:pk>/grants.csv", campaigns.campaign_grants_csv, name="campaign_grants_csv"),
    path("<int:pk>/edit/", builder.campaign_builder, name="campaign_builder"),
    path("<int:pk>/edit/<str:section>/", builder.campaign_section, name="campaign_section"),
    path("<int:pk>/publish/", builder.campaign_publish, name="campaign_publish"),
    path("<int:pk>/forecast/", reports.campaign_forecast, name="campaign_forecast"),
    path("<int:pk>/outcome/refresh/", reports.campaign_outcome_refresh, name="campaign_outcome_refresh"),
    path("<int:pk>/<str:action>/", campaigns.campaign_action, name="campaign_action"),
]
