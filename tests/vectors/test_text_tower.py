"""FashionSigLIP's text tower: words prepared and tokenized exactly as the model's reference
code does (open_clip's canonicalize cleaning, transformers' tokenizer call), on real queries
(fixtures/text_reference.json, written by fixtures/make_text_reference.py from the reference
packages), and embedded by a tiny ONNX text model built here (no weights can be
downloaded)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.vectors.onnx_models import (
    build_text_model,
    build_tiny_siglip,
    build_tokenizer,
    colour_vector,
)
from vectors.embedders.siglip import FashionSiglipEmbedder
from vectors.embedders.text import TextTower, prepare_text
from vectors.exceptions import ModelNotFound

DIM = 768
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "text_reference.json").read_text())
CASES = REFERENCE["cases"]


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, weights):
    return build_tiny_siglip(tmp_path_factory.mktemp("marqo-fashionSigLIP"), weights)


@pytest.fixture(scope="module")
def tower(model_dir):
    return TextTower(str(model_dir), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("case", CASES, ids=[c["query"][:30] for c in CASES])
def test_text_is_cleaned_as_the_reference_cleans_it(case):
    assert prepare_text(case["query"]) == case["cleaned"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["cleaned"]], ids=[c["query"][:30] for c in CASES if c["cleaned"]]
)
def test_token_ids_are_the_references(tower, case):
    ids, truncated = tower.token_ids(case["query"])
    assert ids.tolist() == [case["input_ids"]]
    # Cut where the reference had no room left: its last id is the end token, not padding.
    assert truncated == (len(case["cleaned"].split()) > 60)


def test_words_with_nothing_left_are_refused_where_the_reference_would_search_padding(tower):
    """A deliberate difference: the reference embeds "!!!" as an empty text (the end token
    and padding, the same vector for every such query); we answer that there are no words."""
    (empty,) = [c for c in CASES if not c["cleaned"]]
    assert empty["input_ids"][:2] == [1, 1]
    with pytest.raises(ValueError, match="no words"):
        tower.token_ids(empty["query"])


def test_the_pad_token_is_the_one_the_tokenizer_config_names(tmp_path):
    build_tokenizer(tmp_path, pad_token="<pad>")
    build_text_model(tmp_path, np.ones((200, 4), dtype=np.float32))
    ids, _ = TextTower(str(tmp_path), providers=["CPUExecutionProvider"]).token_ids("cap")
    assert ids[0, :3].tolist() == [13, 1, 0]
    assert set(ids[0, 2:].tolist()) == {0}


def test_words_land_near_the_images_they_name(tower, weights):
    for word, rgb in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        query = tower.embed(f"A {word.upper()} dress, please!")
        assert query.vector.dtype == np.float32 and query.vector.shape == (DIM,)
        assert np.linalg.norm(query.vector) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(query.vector, colour_vector(weights, rgb), atol=1e-5)
        assert query.truncated is False


def test_the_output_is_chosen_by_name(tmp_path):
    build_tokenizer(tmp_path)
    build_text_model(tmp_path, np.eye(200, 8, dtype=np.float32), output="pooler_output")
    tower = TextTower(str(tmp_path), providers=["CPUExecutionProvider"])
    assert tower.output_name == "pooler_output"
    assert tower.embed("cap").vector.shape == (8,)


def test_the_text_tower_is_loaded_on_the_first_words_search_only(tmp_path, weights):
    build_tiny_siglip(tmp_path, weights)
    (tmp_path / "tokenizer.json").unlink()
    embedder = FashionSiglipEmbedder(model_dir=str(tmp_path))  # products still embed
    with pytest.raises(ModelNotFound, match=r"tokenizer\.json.*download_model"):
        embedder.embed_text("red dress")


def test_the_embedder_embeds_words_and_photos_in_one_space(model_dir, weights):
    import io

    from PIL import Image

    embedder = FashionSiglipEmbedder(model_dir=str(model_dir))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(buffer, format="PNG")
    photo = embedder.embed_image(buffer.getvalue()).vector
    words = embedder.embed_text("red").vector
    assert float(photo @ words) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="cannot be decoded"):
        embedder.embed_image(b"not a photo")


@pytest.mark.parametrize(
    "words",
    ["linen shirt with pocket", "blue " * 70, "cap", "hoodie zipper 2024 xl"],
    ids=["short", "longer-than-the-model-takes", "one-word", "digits"],
)
def test_token_ids_match_transformers_called_as_open_clip_calls_it(model_dir, tower, words):
    """Beside the fixture: the reference tokenizer call run here, on more words."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(model_dir))
    expected = reference(
        [prepare_text(words)], max_length=64, padding="max_length", truncation=True
    ).input_ids
    assert tower.token_ids(words)[0].tolist() == expected
