import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.helpers import PROJECT_DIR, SilentServer, closed_port, manage_env, run_manage
from tests.vectors.helpers import add_points, create_alias, make_collection
from vectors.client import get_qdrant_client
from vectors.collection import resolve_collection


def ensure(*args: str) -> str:
    out = StringIO()
    call_command("ensure_qdrant_collection", *args, stdout=out)
    return out.getvalue()


def vectors_of(client, name: str) -> tuple[int, str]:
    params = client.get_collection(name).config.params.vectors
    return params.size, params.distance.value


def test_creates_a_versioned_collection_behind_the_alias(qdrant, config):
    output = ensure()
    assert output.startswith(
        f"Created collection 'products' (alias of 'products_v1') in {config.label} "
        "(768-dim cosine, 0 points)."
    )
    assert resolve_collection(client=qdrant, name="products") == "products_v1"
    assert vectors_of(qdrant, "products") == (768, "Cosine")


def test_a_second_run_changes_nothing(qdrant):
    ensure()
    add_points(qdrant, "products", 5)
    output = ensure()
    assert output.startswith("Verified collection 'products' (alias of 'products_v1')")
    assert "5 points" in output
    assert [c.name for c in qdrant.get_collections().collections] == ["products_v1"]


def test_verifies_an_existing_collection_through_any_alias(qdrant):
    make_collection(qdrant, "catalog_2026_11")
    create_alias(qdrant, "products", "catalog_2026_11")
    output = ensure()
    assert "Verified collection 'products' (alias of 'catalog_2026_11')" in output
    assert [c.name for c in qdrant.get_collections().collections] == ["catalog_2026_11"]


def test_accepts_a_plain_physical_collection(qdrant):
    make_collection(qdrant, "products")
    assert f"Verified collection 'products' in {qdrant.config.label} (" in ensure()


@pytest.mark.parametrize(
    ("size", "distance", "message"),
    [
        (512, "Cosine", "vector size: expected 768, found 512"),
        (768, "Dot", "distance: expected Cosine, found Dot"),
    ],
)
def test_a_mismatch_is_an_error_and_leaves_the_collection_intact(qdrant, size, distance, message):
    make_collection(qdrant, "products", size=size, distance=distance)
    add_points(qdrant, "products", 4, size=size)
    with pytest.raises(CommandError) as excinfo:
        ensure()
    assert str(excinfo.value) == (
        f"Collection 'products' does not fit the configured vectors: {message}. Nothing was "
        "changed. Fix QDRANT_VECTOR_SIZE / QDRANT_DISTANCE, or rebuild with --recreate."
    )
    assert vectors_of(qdrant, "products") == (size, distance)
    assert qdrant.count("products").count == 4


def test_check_reports_a_missing_collection_and_creates_nothing(qdrant):
    with pytest.raises(CommandError, match=r"does not exist.*Run manage\.py ensure_qdrant"):
        ensure("--check")
    assert qdrant.get_collections().collections == []


def test_check_reports_differences(qdrant):
    make_collection(qdrant, "products", size=512)
    with pytest.raises(CommandError, match="differs from the settings: vector size: expected 768"):
        ensure("--check")


def test_check_passes_on_an_ensured_collection(qdrant):
    ensure()
    assert "matches the settings" in ensure("--check")


def test_recreate_needs_confirmation(qdrant, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    ensure()
    add_points(qdrant, "products", 3)
    with pytest.raises(CommandError, match="add --yes to confirm"):
        ensure("--recreate")
    assert qdrant.count("products").count == 3


def test_recreate_with_yes_rebuilds_a_mismatched_collection(qdrant):
    make_collection(qdrant, "old_products", size=512)
    create_alias(qdrant, "products", "old_products")
    add_points(qdrant, "products", 3, size=512)
    output = ensure("--recreate", "--yes")
    assert output.startswith("Recreated collection 'products' (alias of 'products_v1')")
    assert vectors_of(qdrant, "products") == (768, "Cosine")
    assert qdrant.count("products").count == 0
    assert [c.name for c in qdrant.get_collections().collections] == ["products_v1"]


def test_recreate_asks_on_a_terminal(qdrant, monkeypatch):
    ensure()
    add_points(qdrant, "products", 2)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "nope")
    with pytest.raises(CommandError, match=r"Not confirmed; nothing was changed\."):
        ensure("--recreate")
    assert qdrant.count("products").count == 2
    monkeypatch.setattr("builtins.input", lambda prompt: "products")
    ensure("--recreate")
    assert qdrant.count("products").count == 0


def test_unreachable_server_fails_fast_in_one_line_without_the_api_key():
    port = closed_port()
    result = run_manage(
        "ensure_qdrant_collection",
        env={
            "DJANGO_DEBUG": "1",
            "QDRANT_URL": f"http://127.0.0.1:{port}",
            "QDRANT_API_KEY": "very-secret-key",
            "QDRANT_TIMEOUT": "3",
        },
    )
    assert result.returncode == 1
    assert "very-secret-key" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"CommandError: Qdrant at http://127.0.0.1:{port} is unreachable: "
        "[Errno 111] Connection refused"
    )


def test_concurrent_runs_on_one_embedded_store_both_succeed(tmp_path):
    env = {"DJANGO_DEBUG": "1", "QDRANT_PATH": str(tmp_path / "qdrant"), "QDRANT_TIMEOUT": "30"}
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "ensure_qdrant_collection"],
            cwd=PROJECT_DIR,
            env=manage_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    first_lines = sorted(out.splitlines()[0].split(" ")[0] for out, _ in outputs)
    assert first_lines == ["Created", "Verified"]
    check = run_manage("ensure_qdrant_collection", "--check", env=env)
    assert check.returncode == 0, check.stderr


def test_a_store_held_by_another_process_is_a_clear_error(tmp_path, settings):
    path = tmp_path / "qdrant"
    settings.QDRANT = {"PATH": str(path)}
    get_qdrant_client()  # this process now holds the store
    result = run_manage(
        "ensure_qdrant_collection",
        env={"DJANGO_DEBUG": "1", "QDRANT_PATH": str(path), "QDRANT_TIMEOUT": "1"},
    )
    assert result.returncode == 1
    # The holder is named: its command line and pid, as it wrote them in the lock file.
    assert re.fullmatch(
        re.escape(f"CommandError: embedded Qdrant at {path} is in use by ")
        + rf"(python -m pytest|\S*pytest\S*( \S+)?) \(pid {os.getpid()}\)"
        + re.escape(
            ": embedded Qdrant allows one process per path. Stop that process, or run a "
            "Qdrant server (docker compose up qdrant) and set QDRANT_URL so that several "
            "processes can share it.\n"
        ),
        result.stderr,
    )


def test_a_server_that_hangs_fails_after_the_timeout():
    with SilentServer() as server:
        result = run_manage(
            "ensure_qdrant_collection",
            env={
                "DJANGO_DEBUG": "1",
                "QDRANT_URL": f"http://127.0.0.1:{server.port}",
                "QDRANT_TIMEOUT": "1",
            },
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"CommandError: Qdrant at http://127.0.0.1:{server.port} is unreachable: timed out"
    )
