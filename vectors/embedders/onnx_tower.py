"""Opening one tower of the ONNX export (vision or text) the same way: an ONNX Runtime
session with the configured providers and threads, its first input, and its embedding output
chosen by name, never by position (exports list last_hidden_state first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vectors.exceptions import ModelNotFound


@dataclass(frozen=True)
class Tower:
    session: object  # onnxruntime.InferenceSession
    input_name: str
    input_type: str  # ONNX Runtime's name of it: "tensor(float)", "tensor(int64)", ...
    output_name: str


def open_tower(path: Path, outputs: Sequence[str], *, providers, threads: int = 0) -> Tower:
    """The tower at `path`, its embedding the first of `outputs` it has (or its only one)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # ONNX Runtime's threads spin for a while after each run, waiting for the next: in a web
    # process that burns the cores the search after the model needs (bench/RESULTS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=list(providers)
    )
    first = session.get_inputs()[0]
    return Tower(session, first.name, first.type, output_named(session, outputs, path))


def output_named(session, names: Sequence[str], path: Path) -> str:
    """The first of `names` the model outputs, or its only output."""
    outputs = [output.name for output in session.get_outputs()]
    for name in names:
        if name in outputs:
            return name
    if len(outputs) == 1:
        return outputs[0]
    raise ModelNotFound(
        f"{path} outputs {', '.join(outputs)}, none of them {' or '.join(names)}: which is "
        "the embedding? Use the ONNX export published with the model."
    )
