"""The ASGI process (`live` in the Procfile): the live feed's WebSockets on WS_PORT.
The REST API and the admin are served by gunicorn (WSGI); HTTP here is Django too."""

import os

from django.core.asgi import get_asgi_application

from analytics_project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
load_settings_or_exit()  # a wrong setting: its sentence alone, not a traceback
django_http = get_asgi_application()  # sets Django up before the consumers load models

from apps.live.routing import application as live_application  # noqa: E402

application = live_application(django_http)
