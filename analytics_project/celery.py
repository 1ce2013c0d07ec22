import os

from celery import Celery

from analytics_project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
# This module is the package's first import (analytics_project/__init__.py), so any
# process of ours (worker, beat, gunicorn's master reading gunicorn_conf) stops here
# with a wrong setting's sentence alone; celery's CLI would print a traceback.
load_settings_or_exit()

app = Celery("analytics_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from apps.monitoring.heartbeats import WorkerHeartbeat  # noqa: E402 - loads no model

app.steps["consumer"].add(WorkerHeartbeat)
