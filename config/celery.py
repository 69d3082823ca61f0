"""The Celery app. Tasks are discovered in each app's tasks.py; beat reads its schedule
from django-celery-beat's tables (entries created by data migrations)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
