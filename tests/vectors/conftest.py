import pytest

from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config

# Every test that takes `qdrant` (or `config`) runs twice: against the embedded engine
# (Qdrant Edge, in a fresh folder) and against qdrant-client's API (its local mode, in
# memory), which stands in for a server here.
BACKENDS = ("edge", "client-api")


@pytest.fixture(params=BACKENDS)
def qdrant_settings(request, settings, tmp_path):
    """A fresh Qdrant of each kind: changing settings.QDRANT drops the cached client."""
    path = str(tmp_path / "qdrant") if request.param == "edge" else ":memory:"
    settings.QDRANT = {**settings.QDRANT, "URL": "", "HOST": "", "PATH": path}
    return settings


@pytest.fixture
def qdrant(qdrant_settings):
    return get_qdrant_client()


@pytest.fixture
def config(qdrant_settings):
    return qdrant_config()
