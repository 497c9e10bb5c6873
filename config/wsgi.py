"""WSGI entry point for gunicorn and other WSGI servers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# After the application is loaded: see config/startup.py.
from config.startup import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
