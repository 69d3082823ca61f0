from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.notification_list, name="notification_list"),
    path("badge/", views.notification_badge, name="notification_badge"),
    path("read/", views.notification_mark_read, name="notification_mark_read"),
]
