"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

# After the application is loaded: see config/startup.py.
from config.startup import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
