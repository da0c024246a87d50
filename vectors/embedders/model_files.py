"""Which files of Marqo-FashionSigLIP's published ONNX export the embedder reads, by
precision: the export (transformers.js layout) has each tower in several precisions,
`onnx/vision_model.onnx` (fp32), `onnx/vision_model_fp16.onnx`, `..._quantized.onnx` and so on.
download_model fetches these; the embedder and `check --deploy` look for them."""

from __future__ import annotations

from pathlib import Path

REPOSITORY = "Marqo/marqo-fashionSigLIP"
# The export's commit on the Hugging Face hub (both towers, tokenizer and configs): pinned,
# so that every machine embeds with the same weights.
REVISION = "e5619578fd528afa0bf88d8fae37748336a57fa2"
PRECISIONS = {
    "fp32": "",
    "fp16": "_fp16",
    "int8": "_int8",
    "uint8": "_uint8",
    "quantized": "_quantized",
    "q4": "_q4",
    "q4f16": "_q4f16",
    "bnb4": "_bnb4",
}
# The tokenizer and the processor configs (the text tower reads tokenizer.json,
# tokenizer_config.json and open_clip_config.json; the others record how the model was
# published to prepare its input).
CONFIG_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "open_clip_config.json",
)


def _suffix(precision: str) -> str:
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(
            f"Unknown model precision {precision!r}; use one of {', '.join(PRECISIONS)}."
        ) from None


def vision_candidates(precision: str) -> tuple[str, ...]:
    """Where the vision tower may be, first found wins (fp32 also as a bare model.onnx)."""
    suffix = _suffix(precision)
    names = (f"onnx/vision_model{suffix}.onnx", f"vision_model{suffix}.onnx")
    return names + (("onnx/model.onnx", "model.onnx") if not suffix else ())


def text_candidates(precision: str) -> tuple[str, ...]:
    suffix = _suffix(precision)
    return (f"onnx/text_model{suffix}.onnx", f"text_model{suffix}.onnx")


def published_files(precision: str) -> list[str]:
    """The files download_model fetches, as the hub names them."""
    return [vision_candidates(precision)[0], text_candidates(precision)[0], *CONFIG_FILES]


def missing_files(model_dir: str, precision: str) -> list[str]:
    """Those of the published files the folder lacks (a tower counts as there in any of the
    places the embedder looks)."""
    folder = Path(model_dir)
    missing = []
    for candidates in (vision_candidates(precision), text_candidates(precision)):
        if not any((folder / name).is_file() for name in candidates):
            missing.append(candidates[0])
    return missing + [name for name in CONFIG_FILES if not (folder / name).is_file()]
