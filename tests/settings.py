"""Settings for the test suite: the project's own settings with test-safe defaults.

Defaults are set before the real settings read the environment, so a developer's own
environment (DATABASE_URL, say) still wins.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-insecure-secret-key")
# The test client speaks plain HTTP.
os.environ.setdefault("DJANGO_HTTPS", "false")

from config.settings import *  # noqa: F403

# Tests never touch a developer's Qdrant: embedded and in memory, one fresh store per test
# (tests/vectors/conftest.py resets it).
QDRANT = {**QDRANT, "URL": "", "HOST": "", "PATH": ":memory:"}  # noqa: F405

# Logins in tests need no slow hashing (django-axes' tests log in many times).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The test client is one address asking many times: the API's per-client limit is off unless
# a test sets it (tests/vectors/test_api.py).
API_RATE_LIMIT = None
