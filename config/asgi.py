"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()

# As in config/wsgi.py: an embedded store's owner delivers the change log itself.
from vectors.background import start_embedded_sync  # noqa: E402

start_embedded_sync()
