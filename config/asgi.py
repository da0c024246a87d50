"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()

# As in config/wsgi.py.
from config.pooling import pool_web_connections  # noqa: E402

pool_web_connections()

# As in config/wsgi.py.
from vectors.web_process import start_web_process  # noqa: E402

start_web_process()
