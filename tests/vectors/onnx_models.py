"""A tiny stand-in for FashionSigLIP's ONNX vision model, with the same input and output
shapes: pixel_values [N,3,224,224] -> mean colour per channel -> x W -> image_embeds [N,D]."""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_vision_model(
    folder: Path, weights: np.ndarray, *, output: str = "image_embeds", first: str = ""
) -> Path:
    """`output`: the embedding's name; `first`: another output listed before it (as exports
    list last_hidden_state first), holding the pooled colours, not the embedding."""
    dimension = weights.shape[1]
    nodes = [
        helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], [output]),
    ]
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", dimension])]
    if first:
        nodes.append(helper.make_node("Identity", ["flat"], [first]))
        outputs.insert(0, helper.make_tensor_value_info(first, TensorProto.FLOAT, ["n", 3]))
    graph = helper.make_graph(
        nodes,
        "tiny_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, 224, 224])],
        outputs,
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what onnxruntime reads
    path = folder / "onnx" / "vision_model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


# A tiny T5-like SentencePiece vocabulary: T5's special tokens first (pad 0, </s> 1, unk 2),
# whole fashion words, and every letter and digit so that no word is unknown.
WORDS = [
    *("red", "blue", "white", "black", "dress", "shirt", "boots", "leather", "linen"),
    *("hoodie", "cap", "beanie", "logo", "with", "pocket", "zipper", "tshirt", "jeans", "coat"),
]
CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")


def build_tokenizer(folder: Path, *, pad_token: str = "</s>") -> Path:  # noqa: S107
    """tokenizer.json and tokenizer_config.json as SigLIP's export has them: a Unigram model
    behind a Metaspace pre-tokenizer, </s> appended, and </s> named as the pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(f"\u2581{word}", -1.0) for word in WORDS]
    vocab += [("\u2581", -3.0)] + [(c, -5.0) for c in CHARACTERS]
    vocab += [(f"\u2581{c}", -5.5) for c in CHARACTERS]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=2))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "pad_token": pad_token,
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 64,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder / "tokenizer.json"


def build_text_model(
    folder: Path, table: np.ndarray, *, context_length: int = 64, output: str = "text_embeds"
) -> Path:
    """input_ids [N,context_length] -> one row of `table` per token, summed -> [N,D].
    (The real tower's output depends on every token, padding included, as this does.)"""
    dimension = table.shape[1]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "input_ids"], ["rows"], axis=0),
            helper.make_node("ReduceSum", ["rows", "axis"], [output], keepdims=0),
        ],
        "tiny_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", context_length])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", dimension])],
        initializer=[
            numpy_helper.from_array(table.astype(np.float32), "E"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = folder / "onnx" / "text_model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": {"text_cfg": {"context_length": context_length}}})
    )
    return path


# The colours the tiny towers agree on: an image of one and the word for it embed alike.
COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}


def colour_vector(weights: np.ndarray, rgb) -> np.ndarray:
    """What build_vision_model's model makes of an image of one colour, normalised."""
    pixel = (np.asarray(rgb, dtype=np.float32) / 255 - 0.5) / 0.5
    vector = pixel @ weights
    return vector / np.linalg.norm(vector)


def build_tiny_siglip(folder: Path, weights: np.ndarray) -> Path:
    """A model folder as download_model leaves it: both towers, the tokenizer and the
    configs. The text tower maps each colour word to its colour's image embedding (other
    words to nothing), so words find the images a real model would pair them with."""
    build_vision_model(folder, weights)
    tokenizer_path = build_tokenizer(folder)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    table = np.zeros((tokenizer.get_vocab_size(), weights.shape[1]), dtype=np.float32)
    for word, rgb in COLOURS.items():
        table[tokenizer.token_to_id(f"\u2581{word}")] = colour_vector(weights, rgb)
    build_text_model(folder, table)
    return folder
