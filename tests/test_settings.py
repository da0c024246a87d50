"""Settings as an operator meets them: through the environment and manage.py."""

import re
import secrets

from tests.helpers import PROJECT_DIR, closed_port, run_manage
from tests.vectors.qdrant_standin import QdrantStandIn

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "catalog.example.com",
    "DJANGO_HSTS_PRELOAD": "true",
}


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = PRODUCTION_ENV | {"QDRANT_PATH": str(tmp_path / "qdrant")}
    ensured = run_manage("ensure_qdrant_collection", env=env)
    assert ensured.returncode == 0, ensured.stderr
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_an_unreachable_qdrant():
    port = closed_port()
    env = PRODUCTION_ENV | {"QDRANT_URL": f"http://127.0.0.1:{port}", "QDRANT_API_KEY": "s-key"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode == 1
    assert f"(vectors.E010) Qdrant at http://127.0.0.1:{port} is unreachable" in result.stderr
    assert "s-key" not in result.stdout + result.stderr


def test_plain_check_never_touches_qdrant():
    with QdrantStandIn() as server:
        env = {"DJANGO_DEBUG": "1", "QDRANT_URL": server.url}
        assert run_manage("check", env=env).returncode == 0
        assert server.requests == []
        run_manage("check", "--deploy", "--tag", "qdrant", env=env)
        assert server.requests != []


def test_check_deploy_warns_when_https_is_switched_off(tmp_path):
    env = PRODUCTION_ENV | {"DJANGO_HTTPS": "0", "QDRANT_PATH": str(tmp_path / "qdrant")}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 1
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_secret_key_is_required_without_debug():
    result = run_manage("check", env={})
    assert result.returncode == 1
    assert result.stderr == (
        "Configuration error: DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off "
        "(set DJANGO_DEBUG=1 for local development).\n"
    )


def test_debug_runs_without_a_secret_key():
    result = run_manage("check", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_commands_report_postgres_down_in_one_line():
    port = closed_port()
    result = run_manage(
        "migrate",
        env={"DJANGO_DEBUG": "1", "DATABASE_URL": f"postgres://u:pw-x1@127.0.0.1:{port}/catalog"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Database unavailable: connection failed:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw-x1" not in result.stderr


def environment_variables_read_by_the_project() -> set[str]:
    pattern = re.compile(
        r"""(?:env\.\w+|env|os\.environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    names = set()
    # Top-level files too: gunicorn.conf.py reads the web server's settings.
    for path in PROJECT_DIR.glob("**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        names.update(pattern.findall(path.read_text()))
    return names


def test_every_environment_variable_is_documented():
    names = environment_variables_read_by_the_project()
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"} <= names
    readme = (PROJECT_DIR / "README.md").read_text()
    env_example = (PROJECT_DIR / ".env.example").read_text()
    assert {n for n in names if f"`{n}`" not in readme} == set()
    assert {n for n in names if not re.search(rf"^#?\s*{n}=", env_example, re.M)} == set()
