"""A text tower the size of FashionSigLIP's (SigLIP ViT-B/16's text transformer: 12 layers,
width 768, 12 heads, MLP 3072, 64 tokens, a 32,000-word vocabulary, the last token's state
through a linear head), with random weights, as an ONNX model built like the tests' tiny
towers (the real weights cannot be downloaded here). Its cost per query is the real one's;
its answers mean nothing.

    python bench/siglip_sized.py FOLDER   # writes FOLDER/onnx/text_model.onnx (~440 MB)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

LAYERS, WIDTH, HEADS, MLP, CONTEXT, VOCABULARY = 12, 768, 12, 3072, 64, 32_000


def build_text_tower(folder: Path, *, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights: list = []
    nodes: list = []

    def weight(name: str, shape, scale: float = 0.02) -> str:
        values = (rng.standard_normal(shape) * scale).astype(np.float32)
        weights.append(numpy_helper.from_array(values, name))
        return name

    def constant(name: str, values) -> str:
        weights.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def layer_norm(x: str, name: str) -> str:
        gamma = constant(f"{name}.g", np.ones(WIDTH, np.float32))
        beta = constant(f"{name}.b", np.zeros(WIDTH, np.float32))
        return node("LayerNormalization", [x, gamma, beta], f"{name}.out", axis=-1)

    def linear(x: str, name: str, fan_in: int, fan_out: int) -> str:
        product = node("MatMul", [x, weight(f"{name}.w", (fan_in, fan_out))], f"{name}.mm")
        bias = constant(f"{name}.bias", np.zeros(fan_out, np.float32))
        return node("Add", [product, bias], f"{name}.out")

    head_size = WIDTH // HEADS
    split_heads = constant("split_heads", np.asarray([0, CONTEXT, HEADS, head_size], np.int64))
    join_heads = constant("join_heads", np.asarray([0, CONTEXT, WIDTH], np.int64))
    scale = constant("scale", np.asarray(1 / np.sqrt(head_size), np.float32))
    half, one = constant("half", np.float32(0.5)), constant("one", np.float32(1.0))
    root2 = constant("root2", np.float32(np.sqrt(2.0)))

    tokens = node("Gather", [weight("tokens", (VOCABULARY, WIDTH)), "input_ids"], "embedded")
    x = node("Add", [tokens, weight("positions", (CONTEXT, WIDTH))], "x0")
    for k in range(LAYERS):
        n = f"l{k}"
        h = layer_norm(x, f"{n}.ln1")
        heads = {}
        for part in ("q", "k", "v"):
            projected = linear(h, f"{n}.{part}", WIDTH, WIDTH)
            shaped = node("Reshape", [projected, split_heads], f"{n}.{part}.heads")
            order = [0, 2, 3, 1] if part == "k" else [0, 2, 1, 3]
            heads[part] = node("Transpose", [shaped], f"{n}.{part}.t", perm=order)
        scores = node("MatMul", [heads["q"], heads["k"]], f"{n}.scores")
        scaled = node("Mul", [scores, scale], f"{n}.scaled")
        attention = node("Softmax", [scaled], f"{n}.attention", axis=-1)
        mixed = node("MatMul", [attention, heads["v"]], f"{n}.mixed")
        joined = node("Transpose", [mixed], f"{n}.joined", perm=[0, 2, 1, 3])
        flat = node("Reshape", [joined, join_heads], f"{n}.flat")
        x = node("Add", [x, linear(flat, f"{n}.o", WIDTH, WIDTH)], f"{n}.x1")
        h = linear(layer_norm(x, f"{n}.ln2"), f"{n}.fc1", WIDTH, MLP)
        # GELU, exactly: x/2 (1 + erf(x / sqrt 2))
        erf = node("Erf", [node("Div", [h, root2], f"{n}.g.div")], f"{n}.g.erf")
        gelu = node(
            "Mul",
            [node("Mul", [h, half], f"{n}.g.half"), node("Add", [erf, one], f"{n}.g.add")],
            f"{n}.gelu",
        )
        x = node("Add", [x, linear(gelu, f"{n}.fc2", MLP, WIDTH)], f"{n}.x2")
    final = layer_norm(x, "final")
    last = node("Gather", [final, constant("last", np.int64(CONTEXT - 1))], "last_token", axis=1)
    linear(last, "head", WIDTH, WIDTH)
    nodes.append(helper.make_node("Identity", ["head.out"], ["text_embeds"]))

    graph = helper.make_graph(
        nodes,
        "siglip_sized_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", CONTEXT])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", WIDTH])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = folder / "onnx" / "text_model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path, save_as_external_data=False)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": {"text_cfg": {"context_length": CONTEXT}}})
    )
    return path


if __name__ == "__main__":
    print(build_text_tower(Path(sys.argv[1])))
