"""Marqo FashionSigLIP's text tower: a shopper's words in the images' space.

Prepared the way the model was trained and published (open_clip's SigLIP tokenizer, with
Marqo's open_clip_config.json `"clean": "canonicalize"`): the text is repaired (ftfy), HTML
entities unescaped twice, underscores made spaces, ASCII punctuation removed, lower-cased and
its whitespace collapsed; then tokenized by the export's own tokenizer.json (T5's
SentencePiece vocabulary, with its end-of-text token) and padded or cut to the model's fixed
context length (64) with the pad token the tokenizer names. tests/vectors/test_text_tower.py
holds this to the reference's output on real queries.
"""

from __future__ import annotations

import html
import json
import string
import threading
from pathlib import Path

import numpy as np

from vectors.embedders.base import QueryEmbedding, l2_normalise
from vectors.embedders.model_files import text_candidates
from vectors.embedders.onnx_tower import open_tower
from vectors.exceptions import ModelNotFound

TOKENIZER_FILE = "tokenizer.json"
# open_clip's config for the model: the text tower's context length is read from it.
OPEN_CLIP_CONFIG = "open_clip_config.json"
DEFAULT_CONTEXT_LENGTH = 64
# The embedding's output by name (as for images: never by position).
TEXT_OUTPUTS = ("text_embeds", "pooler_output")

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def prepare_text(text: str) -> str:
    """The words as the model's published tokenizer cleans them before tokenizing."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    text = text.replace("_", " ").translate(_PUNCTUATION).lower()
    return " ".join(text.split())


def find_text_files(model_dir: str, precision: str = "fp32") -> tuple[Path, Path]:
    folder = Path(model_dir)
    candidates = text_candidates(precision)
    model = next((folder / n for n in candidates if (folder / n).is_file()), None)
    tokenizer = folder / TOKENIZER_FILE
    missing = [] if model else [" or ".join(candidates)]
    if not tokenizer.is_file():
        missing.append(TOKENIZER_FILE)
    if missing:
        raise ModelNotFound(
            f"The text tower is missing from {folder} ({', '.join(missing)}): run "
            "`manage.py download_model`, or set VECTORS_MODEL_DIR."
        )
    return model, tokenizer


def _context_length(folder: Path) -> int:
    try:
        config = json.loads((folder / OPEN_CLIP_CONFIG).read_text())
        return int(config["model_cfg"]["text_cfg"]["context_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_CONTEXT_LENGTH


def _pad_id(tokenizer, folder: Path) -> int:
    """The pad token tokenizer_config.json names (SigLIP's is the end-of-text token, </s>),
    else the one tokenizer.json pads with, else </s>."""
    names = []
    try:
        pad = json.loads((folder / "tokenizer_config.json").read_text()).get("pad_token")
        names.append(pad.get("content") if isinstance(pad, dict) else pad)
    except (OSError, ValueError, AttributeError):
        pass
    if tokenizer.padding:
        names.append(tokenizer.padding.get("pad_token"))
    names.append("</s>")
    for name in names:
        token_id = tokenizer.token_to_id(name) if isinstance(name, str) else None
        if token_id is not None:
            return token_id
    raise ModelNotFound(f"{folder / TOKENIZER_FILE} has no pad token (looked for {names})")


class TextTower:
    """Loaded once per process, on the first words search (a sync never pays for it)."""

    def __init__(self, model_dir: str, *, precision: str = "fp32", providers, threads: int = 0):
        from tokenizers import Tokenizer

        model_path, tokenizer_path = find_text_files(model_dir, precision)
        folder = Path(model_dir)
        self.context_length = _context_length(folder)
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(self.context_length)
        self.tokenizer.enable_padding(
            length=self.context_length, pad_id=_pad_id(self.tokenizer, folder)
        )
        tower = open_tower(model_path, TEXT_OUTPUTS, providers=providers, threads=threads)
        self.session = tower.session
        self.input_name = tower.input_name
        self.output_name = tower.output_name
        self.input_type = np.int32 if tower.input_type == "tensor(int32)" else np.int64

    def token_ids(self, text: str) -> tuple[np.ndarray, bool]:
        """The prepared words' ids, padded to the context length, and whether they were cut.
        Raises ValueError when nothing is left of them to search for."""
        prepared = prepare_text(text)
        if not prepared:
            raise ValueError("the query has no words")
        encoding = self.tokenizer.encode(prepared)
        ids = np.asarray([encoding.ids], dtype=self.input_type)
        return ids, bool(encoding.overflowing)

    def embed(self, text: str) -> QueryEmbedding:
        ids, truncated = self.token_ids(text)
        output = self.session.run([self.output_name], {self.input_name: ids})[0]
        return QueryEmbedding(vector=l2_normalise(output)[0], truncated=truncated)


class LazyTextTower:
    """The text tower, built on first use by whichever thread needs it first."""

    def __init__(self, model_dir: str, *, precision: str, providers, threads: int = 0):
        self._arguments = (model_dir, precision, tuple(providers), threads)
        self._tower: TextTower | None = None
        self._lock = threading.Lock()

    def get(self) -> TextTower:
        if self._tower is None:
            with self._lock:
                if self._tower is None:
                    model_dir, precision, providers, threads = self._arguments
                    self._tower = TextTower(
                        model_dir, precision=precision, providers=providers, threads=threads
                    )
        return self._tower
