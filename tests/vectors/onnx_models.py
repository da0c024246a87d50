"""A tiny stand-in for FashionSigLIP's ONNX vision model, with the same input and output
shapes: pixel_values [N,3,224,224] -> mean colour per channel -> x W -> image_embeds [N,D]."""

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
