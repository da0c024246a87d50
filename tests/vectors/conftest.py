import pytest

from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config


@pytest.fixture
def qdrant_settings(settings):
    """A fresh in-memory embedded Qdrant: changing settings.QDRANT drops the cached client."""
    settings.QDRANT = {**settings.QDRANT, "URL": "", "HOST": "", "PATH": ":memory:"}
    return settings


@pytest.fixture
def qdrant(qdrant_settings):
    return get_qdrant_client()


@pytest.fixture
def config(qdrant_settings):
    return qdrant_config()
