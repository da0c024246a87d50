"""The image embedder at the real model's size: sync end to end against the model alone.

    python bench/embed.py [--n 256] [--batch 16]

Builds, with the `onnx` package, a random-weight graph of FashionSigLIP's vision tower shape
(ViT-B/16 at 224x224: 16x16 patch embedding, 12 pre-norm transformer layers of width 768 with
12 heads and a 3072-wide GELU MLP, a final LayerNorm, SigLIP's attention-pooling head: a
learned probe attending over the tokens, then LayerNorm and MLP; 768-d output, ~93M
parameters, ~370 MB), generates N product photos as JPEG (600-1200 px a side, smooth shapes
and grain, like a product shot), serves them from a loopback server, and measures in one run:

(a) the model alone: ONNX Runtime on ready-made 3x224x224 batches of `--batch` images;
(b) `sync_vectors` end to end, in this process (claim, fetch over HTTP, decode, infer, upsert
    into an embedded Qdrant, clear the log) for N products, with the same batch size.

It also measures JPEG draft decoding (a reduced DCT scale) against a full decode: the lowest
cosine between the two embeddings of the same photo (kept only if >= 0.999), and decode time.
The last line is the figure: (b)/(a) throughput (goal >= 0.9), images/s of (b), and the share
of (b)'s time in fetch, decode and inference (fetch and decode run on a pool of threads, in
thread-seconds, overlapping inference).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import numpy as np
from _common import setup_django

BENCH_DB = "catalog_bench"
WIDTH, LAYERS, HEADS, MLP, PATCH, SIDE = 768, 12, 12, 3072, 16, 224


def build_vit(path: Path, seed: int = 0) -> int:
    """A random-weight SigLIP ViT-B/16 vision tower as ONNX; returns its parameter count."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    count = [0]

    def weight(name, shape, scale=0.02):
        array = (rng.standard_normal(shape) * scale).astype(np.float32)
        weights.append(numpy_helper.from_array(array, name))
        count[0] += array.size
        return name

    def const(name, values, dtype=np.int64):
        weights.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], **attrs))
        return name

    def layer_norm(x, prefix):
        weights.append(numpy_helper.from_array(np.ones(WIDTH, np.float32), f"{prefix}.g"))
        weights.append(numpy_helper.from_array(np.zeros(WIDTH, np.float32), f"{prefix}.b"))
        return node(
            "LayerNormalization", [x, f"{prefix}.g", f"{prefix}.b"], f"{prefix}.out", axis=-1
        )

    def linear(x, prefix, fan_in, fan_out):
        y = node("MatMul", [x, weight(f"{prefix}.w", (fan_in, fan_out))], f"{prefix}.mm")
        return node("Add", [y, weight(f"{prefix}.bias", (fan_out,))], f"{prefix}.out")

    def gelu(x, prefix):  # 0.5 x (1 + erf(x / sqrt 2))
        scaled = node("Div", [x, const(f"{prefix}.r2", np.sqrt(2.0), np.float32)], f"{prefix}.d")
        erf = node("Erf", [scaled], f"{prefix}.erf")
        one = node("Add", [erf, const(f"{prefix}.one", 1.0, np.float32)], f"{prefix}.p")
        half = node("Mul", [x, const(f"{prefix}.half", 0.5, np.float32)], f"{prefix}.h")
        return node("Mul", [half, one], f"{prefix}.out")

    def heads(x, prefix, perm):  # [N, T, 768] -> [N, 12, T, 64] (or keys transposed)
        split = node("Reshape", [x, const(f"{prefix}.s", [0, 0, HEADS, WIDTH // HEADS])], prefix)
        return node("Transpose", [split], f"{prefix}.t", perm=perm)

    def attention(query_source, kv_source, prefix):
        q = heads(linear(query_source, f"{prefix}.q", WIDTH, WIDTH), f"{prefix}.qh", [0, 2, 1, 3])
        k = heads(linear(kv_source, f"{prefix}.k", WIDTH, WIDTH), f"{prefix}.kh", [0, 2, 3, 1])
        v = heads(linear(kv_source, f"{prefix}.v", WIDTH, WIDTH), f"{prefix}.vh", [0, 2, 1, 3])
        scores = node("MatMul", [q, k], f"{prefix}.scores")
        scale = const(f"{prefix}.scale", 1 / np.sqrt(WIDTH // HEADS), np.float32)
        scores = node("Mul", [scores, scale], f"{prefix}.scaled")
        probs = node("Softmax", [scores], f"{prefix}.probs", axis=-1)
        mixed = node("MatMul", [probs, v], f"{prefix}.mixed")
        merged = node("Transpose", [mixed], f"{prefix}.merged", perm=[0, 2, 1, 3])
        flat = node("Reshape", [merged, const(f"{prefix}.fs", [0, 0, WIDTH])], f"{prefix}.flat")
        return linear(flat, f"{prefix}.o", WIDTH, WIDTH)

    def mlp(x, prefix):
        hidden = gelu(linear(x, f"{prefix}.fc1", WIDTH, MLP), f"{prefix}.gelu")
        return linear(hidden, f"{prefix}.fc2", MLP, WIDTH)

    patches = (SIDE // PATCH) ** 2
    x = node(
        "Conv",
        ["pixel_values", weight("patch.w", (WIDTH, 3, PATCH, PATCH)), weight("patch.b", (WIDTH,))],
        "patch.conv",
        strides=[PATCH, PATCH],
    )
    x = node("Reshape", [x, const("patch.s", [0, WIDTH, patches])], "patch.flat")
    x = node("Transpose", [x], "patch.tokens", perm=[0, 2, 1])
    x = node("Add", [x, weight("pos", (1, patches, WIDTH))], "embedded")
    for i in range(LAYERS):
        h = layer_norm(x, f"l{i}.ln1")
        x = node("Add", [x, attention(h, h, f"l{i}.attn")], f"l{i}.res1")
        x = node("Add", [x, mlp(layer_norm(x, f"l{i}.ln2"), f"l{i}.mlp")], f"l{i}.res2")
    x = layer_norm(x, "post")
    pooled = attention(weight("head.probe", (1, 1, WIDTH)), x, "head.attn")
    pooled = node("Add", [pooled, mlp(layer_norm(pooled, "head.ln"), "head.mlp")], "head.res")
    node("Reshape", [pooled, const("out.s", [-1, WIDTH])], "image_embeds")

    graph = helper.make_graph(
        nodes,
        "siglip_vit_b16_random",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", WIDTH])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return count[0]


def product_photo(rng: np.random.Generator) -> bytes:
    """A JPEG like a product shot: a light background, a few soft coloured shapes, grain."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = (int(v) for v in rng.integers(600, 1201, 2))
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1, y1 = (
            x0 + int(rng.integers(width // 4, width // 2)),
            y0 + int(rng.integers(height // 4, height // 2)),
        )
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rounded_rectangle((x0, y0, x1, y1), radius=40, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    grain = rng.normal(0, 6, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def serve(photos: list[bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a CDN

        def do_GET(self):
            index = int(self.path.strip("/").split(".")[0])
            body = photos[index]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args.n, args.batch, Path(tmp))


def run(n: int, batch: int, tmp: Path) -> None:
    started = time.perf_counter()
    parameters = build_vit(tmp / "model" / "onnx" / "vision_model.onnx")
    size_mb = (tmp / "model" / "onnx" / "vision_model.onnx").stat().st_size / 1e6
    print(
        f"model: {parameters / 1e6:.1f}M parameters, {size_mb:.0f} MB, built in "
        f"{time.perf_counter() - started:.0f}s"
    )
    rng = np.random.default_rng(7)
    photos = [product_photo(rng) for _ in range(n)]
    print(f"{n} photos, {sum(map(len, photos)) / n / 1e3:.0f} kB on average")
    server, base = serve(photos)

    os.environ.update(
        {
            "VECTORS_EMBEDDER": "fashion-siglip",
            "VECTORS_MODEL_DIR": str(tmp / "model"),
            "VECTORS_EMBED_BATCH": str(batch),
            "VECTORS_IMAGE_ALLOW_PRIVATE": "1",  # the loopback server
            "QDRANT_PATH": str(tmp / "qdrant"),
        }
    )
    os.environ.pop("QDRANT_URL", None)
    os.environ.pop("QDRANT_HOST", None)
    setup_django(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection

    from vectors.embedders import get_embedder
    from vectors.embedders.images import to_pixels

    embedder = get_embedder()

    # Draft decoding against a full decode, on the first photos.
    sample = photos[: min(32, n)]
    full, draft = [], []
    timings = {"full": 0.0, "draft": 0.0}
    for photo in sample:
        for kind, out in (("full", full), ("draft", draft)):
            t = time.perf_counter()
            out.append(to_pixels(photo, max_pixels=40_000_000, draft=kind == "draft"))
            timings[kind] += time.perf_counter() - t
    vectors_full = embedder._run(np.stack(full))
    vectors_draft = embedder._run(np.stack(draft))
    cosines = np.sum(vectors_full * vectors_draft, axis=1) / (
        np.linalg.norm(vectors_full, axis=1) * np.linalg.norm(vectors_draft, axis=1)
    )
    print(
        f"JPEG draft decode: {timings['full'] / timings['draft']:.1f}x faster "
        f"({timings['draft'] / len(sample) * 1e3:.1f} vs {timings['full'] / len(sample) * 1e3:.1f}"
        f" ms a photo), lowest cosine to a full decode {cosines.min():.5f} (keep if >= 0.999)"
    )

    # (a) The model alone, on ready batches.
    ready = np.stack([draft[i % len(draft)] for i in range(batch)])
    embedder._run(ready)  # warm up
    rounds = max(2, n // batch // 2)
    started = time.perf_counter()
    for _ in range(rounds):
        embedder._run(ready)
    model_rate = rounds * batch / (time.perf_counter() - started)
    print(f"(a) model alone: {model_rate:.2f} images/s (batches of {batch})")

    # (b) sync_vectors end to end.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
        cursor.execute(
            """INSERT INTO catalog_product
                   (store_id, external_id, title, price, image_url, product_url)
               SELECT 'bench', i::text, 'Photo ' || i, 10, %s || '/' || i || '.jpg',
                      'https://shop.example/p/' || i
               FROM generate_series(0, %s - 1) AS i""",
            [base, n],
        )
    call_command("ensure_qdrant_collection", verbosity=0)
    embedder.seconds.clear()
    started = time.perf_counter()
    call_command("sync_vectors", "--batch-size", "256", verbosity=0)
    sync_seconds = time.perf_counter() - started
    sync_rate = n / sync_seconds
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM vectors_productchange")
        assert cursor.fetchone()[0] == 0, "sync_vectors left work behind"
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
    server.shutdown()
    spent = embedder.seconds
    share = {stage: spent[stage] / sync_seconds for stage in ("fetch", "decode", "inference")}
    print(
        f"(b) sync_vectors: {sync_rate:.2f} images/s; fetch {spent['fetch']:.1f} thread-s, "
        f"decode {spent['decode']:.1f} thread-s, inference {spent['inference']:.1f} s, "
        f"of {sync_seconds:.1f} s"
    )
    print(
        f"embed: sync/model throughput {sync_rate / model_rate:.2f} (goal >= 0.9), "
        f"{sync_rate:.2f} images/s; time in fetch {share['fetch']:.0%}, decode "
        f"{share['decode']:.0%}, inference {share['inference']:.0%} (fetch and decode overlap "
        "inference)"
    )


if __name__ == "__main__":
    sys.exit(main())
