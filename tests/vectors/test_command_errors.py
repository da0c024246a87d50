"""Every vector command maps an embedder that cannot load to one line."""

import pytest
from django.core.management import CommandError, call_command

from vectors.collection import collection_ensure
from vectors.embedders import reset_embedder

pytestmark = pytest.mark.django_db


@pytest.fixture
def missing_model(settings, tmp_path, qdrant, config):
    collection_ensure(client=qdrant, config=config)
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(tmp_path / "nothing-here")
    reset_embedder()
    yield tmp_path / "nothing-here"
    reset_embedder()


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        ("sync_vectors", "Cannot load the embedder: "),
        ("reconcile_vectors", ""),
        ("reindex_vectors", ""),
    ],
)
def test_an_embedder_that_cannot_load_is_one_line(missing_model, command, prefix):
    with pytest.raises(CommandError) as excinfo:
        call_command(command)
    message = str(excinfo.value)
    assert message.startswith(f"{prefix}No ONNX vision model in {missing_model}")
    assert "\n" not in message
