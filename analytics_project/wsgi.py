import os

from django.core.wsgi import get_wsgi_application

from analytics_project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
load_settings_or_exit()  # a wrong setting: its sentence alone, not a traceback
application = get_wsgi_application()
