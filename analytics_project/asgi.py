"""The ASGI process (`live` in the Procfile): the live feed's WebSockets on WS_PORT.
The REST API and the admin are served by gunicorn (WSGI); HTTP here is Django too."""

import os

from django.core.asgi import get_asgi_application

from analytics_project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
load_settings_or_exit()  # a wrong setting: its sentence alone, not a traceback
django_http = get_asgi_application()  # sets Django up before the consumers load models

from apps.core.logmasking import mask_query_secrets_in_every_handler  # noqa: E402

# uvicorn logs each handshake with its query string, and browsers send their key there
# (`?key=`): every handler, uvicorn's and Django's, writes it masked but its prefix.
mask_query_secrets_in_every_handler()

from apps.live.routing import application as live_application  # noqa: E402

application = live_application(django_http)
