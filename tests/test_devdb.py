"""Where make run finds PostgreSQL (config/devdb.py)."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from config import devdb
from tests.helpers import PROJECT_DIR, closed_port


def test_database_url_from_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5433/x")
    assert devdb.database_url(tmp_path) == "postgres://u@db.example:5433/x"


def test_database_url_from_dotenv(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text("DJANGO_DEBUG=1\nDATABASE_URL='postgres://u@h:1/y'\n")
    assert devdb.database_url(tmp_path) == "postgres://u@h:1/y"


def test_the_local_server_when_it_answers(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert devdb.database_url(tmp_path) == devdb.DEFAULT_URL  # this machine runs one on 5432


def test_without_postgres_says_what_to_do(monkeypatch, tmp_path):
    # PostgreSQL is installed here; pretend its programs are not (the one thing mocked).
    monkeypatch.setattr(devdb, "server_programs", lambda: None)
    with pytest.raises(devdb.NoPostgres) as excinfo:
        devdb.local_cluster_url(tmp_path, closed_port())
    assert "sudo apt-get install postgresql" in str(excinfo.value)
    assert "docker compose up -d db" in str(excinfo.value)


@pytest.fixture
def developer_tmp():
    """A folder outside pytest's own (which only root may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="devdb-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _as_developer(args: list[str], python: str) -> list[str]:
    command = [python, "-c", *args]
    if os.geteuid() == 0:
        command = ["/usr/sbin/runuser", "-u", "postgres", "--", *command]
    return command


@pytest.mark.skipif(devdb.server_programs() is None, reason="PostgreSQL server programs needed")
def test_a_project_local_cluster_is_created_started_and_stopped(developer_tmp):
    """The real initdb and pg_ctl. initdb refuses to run as root, so as root the cluster is
    made by the postgres user, as a developer's own account would."""
    tmp_path = developer_tmp
    var = tmp_path / "var"
    var.mkdir()
    # The module runs from a copy inside the folder the other user owns: the checkout may be
    # in a directory only its owner can read (root's mktemp -d, a home of mode 700).
    code = tmp_path / "code" / "config"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    shutil.copy(PROJECT_DIR / "config" / "devdb.py", code / "devdb.py")
    port = closed_port()
    python = sys.executable
    if os.geteuid() == 0:
        # The other user cannot reach root's virtualenv; devdb needs only the standard library.
        python = shutil.which("python3", path="/usr/bin:/bin")
        if python is None:
            pytest.skip("no system python3 for the postgres user")
        subprocess.run(["/bin/chown", "-R", "postgres", str(tmp_path)], check=True)
        tmp_path.chmod(0o755)
    start = _as_developer(
        [
            "import sys; from pathlib import Path; from config import devdb; "
            "print(devdb.local_cluster_url(Path(sys.argv[1]), int(sys.argv[2])))",
            str(var),
            str(port),
        ],
        python,
    )
    env = {**os.environ, "PYTHONPATH": str(code.parent)}
    result = subprocess.run(start, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url == f"postgres://postgres@127.0.0.1:{port}/catalog"
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        # A second call finds it running and changes nothing.
        again = subprocess.run(start, capture_output=True, text=True, env=env, check=False)
        assert again.stdout.strip() == url
    finally:
        stop = _as_developer(
            [
                "import sys; from pathlib import Path; from config import devdb; "
                "print(devdb.stop_local_cluster(Path(sys.argv[1])))",
                str(var),
            ],
            python,
        )
        stopped = subprocess.run(stop, capture_output=True, text=True, env=env, check=False)
    assert stopped.stdout.strip() == "True", stopped.stderr


def test_make_run_writes_a_development_env_once_and_make_clean_removes_only_that(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env_file = tmp_path / ".env"
    assert devdb.write_dev_env(env_file, "postgres://postgres@127.0.0.1:5432/catalog")
    assert "DJANGO_DEBUG=1\n" in env_file.read_text()
    assert devdb.database_url(tmp_path) == "postgres://postgres@127.0.0.1:5432/catalog"
    # Written once: a second run, or an edit, keeps what is there.
    env_file.write_text(env_file.read_text() + "VECTORS_EMBED_BATCH=8\n")
    assert not devdb.write_dev_env(env_file, "postgres://other@h:1/x")
    assert "VECTORS_EMBED_BATCH=8" in env_file.read_text()

    assert devdb.forget_dev_env(env_file)
    assert not env_file.exists()
    env_file.write_text("DJANGO_SECRET_KEY=mine\n")  # the user's own: kept
    assert not devdb.forget_dev_env(env_file)
    assert env_file.read_text() == "DJANGO_SECRET_KEY=mine\n"


def test_manage_py_in_another_shell_reads_the_development_env(tmp_path):
    """After make run, `manage.py help` works with no variables set (here in a copy of the
    project's settings folder, so that the checkout's own .env is not touched)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QDRANT_"))}
    env.pop("DATABASE_URL", None)
    env_file = tmp_path / ".env"
    devdb.write_dev_env(env_file, "postgres://postgres@127.0.0.1:5432/catalog")
    result = subprocess.run(
        [sys.executable, "manage.py", "help"],
        cwd=PROJECT_DIR,
        env=env | {"DJANGO_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("sync_vectors", "reconcile_vectors", "import_products", "load_demo"):
        assert command in result.stdout
