import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")

app = Celery("analytics_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from apps.monitoring.heartbeats import WorkerHeartbeat  # noqa: E402 - loads no model

app.steps["consumer"].add(WorkerHeartbeat)
