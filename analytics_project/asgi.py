"""The ASGI process (`live` in the Procfile): the live feed's WebSockets on WS_PORT.
The REST API and the admin are served by gunicorn (WSGI); HTTP here is Django too."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
django_http = get_asgi_application()  # sets Django up before the consumers load models

from apps.live.routing import application as live_application  # noqa: E402

application = live_application(django_http)
