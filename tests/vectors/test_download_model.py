"""manage.py download_model against a loopback stand-in of the Hugging Face hub
(hub_standin.py; the real hub cannot be reached here), with huggingface_hub's real client:
the pinned revision, every file verified, an interrupted download resumed, offline and
tampered files as one-line errors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import closed_port
from tests.vectors.hub_standin import StandInHub
from tests.vectors.onnx_models import build_tiny_siglip
from vectors.embedders.model_files import REPOSITORY, REVISION, missing_files, published_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The files of a tiny model as the hub would serve them, by their published names."""
    folder = tmp_path_factory.mktemp("published")
    weights = np.random.default_rng(0).standard_normal((3, 768)).astype(np.float32)
    build_tiny_siglip(folder, weights)
    (folder / "special_tokens_map.json").write_text('{"pad_token": "</s>"}')
    (folder / "preprocessor_config.json").write_text(
        '{"image_processor_type": "SiglipImageProcessor", "image_mean": [0.5, 0.5, 0.5], '
        '"image_std": [0.5, 0.5, 0.5], "size": {"height": 224, "width": 224}}'
    )
    return {name: (folder / name).read_bytes() for name in published_files("fp32")}


@pytest.fixture
def hub(published, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with StandInHub(dict(published), repository=REPOSITORY, revision=REVISION) as standin:
        # huggingface_hub reads HF_ENDPOINT once, at import: the in-process commands are
        # pointed at the stand-in here, the subprocesses below by HF_ENDPOINT.
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", standin.endpoint)
        monkeypatch.setattr(
            huggingface_hub.constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            standin.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        yield standin


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.VECTORS_MODEL_DIR = str(tmp_path / "model")
    return Path(settings.VECTORS_MODEL_DIR)


def command_env(endpoint: str, model_dir: Path, tmp_path: Path) -> dict[str, str]:
    """download_model as a process of its own, pointed at `endpoint` by HF_ENDPOINT."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(tmp_path / "hf-home"),
        "VECTORS_MODEL_DIR": str(model_dir),
    }


def download(**options) -> str:
    from io import StringIO

    out = StringIO()
    call_command("download_model", stdout=out, **options)
    return out.getvalue()


def test_every_file_is_fetched_at_the_pinned_revision_and_verified(hub, model_dir, published):
    output = download()
    for name, data in published.items():
        assert (model_dir / name).read_bytes() == data
    assert missing_files(str(model_dir), "fp32") == []
    assert f"{len(published)} files fetched" in output
    # Every request was for a published file at the pinned revision (the stand-in records
    # those by name; anything else, at another revision say, by its path).
    asked = {file for _, file, _ in hub.requests if "/api/" not in file}
    assert asked == set(published)
    # The model folder is one the embedder loads: both towers work.
    from vectors.embedders.siglip import FashionSiglipEmbedder

    embedder = FashionSiglipEmbedder(model_dir=str(model_dir))
    assert embedder.embed_text("red").vector.shape == (768,)


def test_a_second_run_fetches_nothing(hub, model_dir, published):
    download()
    hub.requests.clear()
    output = download()
    assert f"0 files fetched (0.0 MB), {len(published)} already there" in output
    files = [(method, file) for method, file, _ in hub.requests if "/api/" not in file]
    assert files == [("HEAD", name) for name in published]


def test_a_file_that_does_not_match_the_hubs_checksum_is_removed(hub, model_dir, published):
    hub.tampered["onnx/text_model.onnx"] = b"\0" * len(published["onnx/text_model.onnx"])
    with pytest.raises(CommandError, match=r"^onnx/text_model\.onnx does not match the hub's "):
        download()
    assert not (model_dir / "onnx" / "text_model.onnx").exists()
    hub.tampered.clear()
    download()
    assert missing_files(str(model_dir), "fp32") == []


def test_an_unknown_revision_is_one_line(hub, model_dir):
    with pytest.raises(CommandError) as error:
        download(revision="0" * 40)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("onnx/vision_model.onnx: ")


def test_offline_is_one_line_and_a_non_zero_exit(model_dir, tmp_path):
    env = command_env(f"http://127.0.0.1:{closed_port()}", model_dir, tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "download_model"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("CommandError: onnx/vision_model.onnx: cannot reach the Hugging ")


def test_a_download_killed_midway_resumes_where_it_stopped(hub, model_dir, tmp_path):
    """huggingface_hub writes what it receives 10 MB at a time: a 24 MB file killed after
    13 MB has its first 10 MB on disk, and the next run asks for the rest only."""
    big = "onnx/vision_model.onnx"
    hub.files[big] = os.urandom(24 * 2**20)
    hub.bytes_per_second = 8 * 2**20
    env = command_env(hub.endpoint, model_dir, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "download_model"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while hub.bytes_sent < 13 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert hub.bytes_sent < len(hub.files[big]), "the download finished before the kill"
    assert not (model_dir / big).exists()

    hub.bytes_per_second = None
    download()
    assert (model_dir / big).read_bytes() == hub.files[big]
    first, *rest = hub.gets(big)
    assert first == "" and rest and rest[-1].startswith("bytes=")
    resumed_from = int(rest[-1].removeprefix("bytes=").rstrip("-"))
    assert 10 * 2**20 <= resumed_from < len(hub.files[big])
    assert not list((model_dir / ".download").rglob("*.part"))


def test_check_deploy_names_the_missing_files_until_the_model_is_downloaded(
    hub, model_dir, settings
):
    from vectors.checks import check_model_files

    settings.VECTORS_EMBEDDER = "fashion-siglip"
    (error,) = check_model_files()
    assert error.id == "vectors.E023"
    assert error.msg.endswith(
        "lacks onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json, "
        "tokenizer_config.json, special_tokens_map.json, preprocessor_config.json, "
        "open_clip_config.json."
    )
    download()
    assert check_model_files() == []
    (model_dir / "tokenizer.json").unlink()
    (error,) = check_model_files()
    assert error.msg.endswith("lacks tokenizer.json.")
    settings.VECTORS_MODEL_PRECISION = "fp8"
    assert [e.id for e in check_model_files()] == ["vectors.E024"]


def test_another_precision_is_fetched_by_its_published_names(hub, model_dir, published):
    hub.files["onnx/vision_model_fp16.onnx"] = published["onnx/vision_model.onnx"]
    hub.files["onnx/text_model_fp16.onnx"] = published["onnx/text_model.onnx"]
    download(precision="fp16")
    assert (model_dir / "onnx" / "vision_model_fp16.onnx").is_file()
    assert not (model_dir / "onnx" / "vision_model.onnx").exists()
    assert missing_files(str(model_dir), "fp16") == []
