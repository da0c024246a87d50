"""WSGI entry point (gunicorn config.wsgi, and runserver through WSGI_APPLICATION)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Embedded Qdrant has one owner process; when it is this web server, the server delivers the
# product change log itself (vectors/background.py). With a Qdrant server this does nothing.
from vectors.background import start_embedded_sync  # noqa: E402

start_embedded_sync()
