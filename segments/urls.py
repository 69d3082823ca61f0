from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("profiles/", views.profile_list, name="profile_list"),
    path("profiles/<int:pk>/", views.profile_detail, name="profile_detail"),
    path("events/", views.event_list, name="event_list"),
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/<int:pk>/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/delete/", views.segment_delete, name="segment_delete"),
    path("lists/", views.custom_list_list, name="custom_list_list"),
    path("lists/<int:pk>/", views.custom_list_detail, name="custom_list_detail"),
    path("lists/<int:pk>/uploads/<int:upload_pk>/errors.csv", views.custom_list_error_file, name="custom_list_errors"),
    path("rules/builder/", views.rules_builder, name="rules_builder"),
    path("rules/estimate/", views.rules_estimate, name="rules_estimate"),
    path("rules/explain/", views.rules_explain, name="rules_explain"),
    path("rules/count/", views.rules_count, name="rules_count"),
]
