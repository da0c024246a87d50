"""WSGI entry point (gunicorn config.wsgi, and runserver through WSGI_APPLICATION)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Request threads share a bounded pool of PostgreSQL connections (config/pooling.py).
from config.pooling import pool_web_connections  # noqa: E402

pool_web_connections()

# Own the embedded store (refusing a second web process on it), warm up, and deliver the
# change log when this process owns an embedded store (vectors/web_process.py).
from vectors.web_process import start_web_process  # noqa: E402

start_web_process(application)
