"""docker-compose.yml cannot run here (no Docker engine); check what it declares."""

from importlib.metadata import version

import yaml

from tests.helpers import PROJECT_DIR


def load_compose() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


def test_services_and_images():
    services = load_compose()["services"]
    assert set(services) >= {"db", "qdrant", "web", "worker"}
    assert services["db"]["image"] == "postgres:16"
    assert services["web"]["build"] == "."


def test_qdrant_image_matches_the_client_minor_version():
    major, minor = version("qdrant-client").split(".")[:2]
    image = load_compose()["services"]["qdrant"]["image"]
    name, tag = image.split(":")
    assert name == "qdrant/qdrant"
    assert tag.startswith(f"v{major}.{minor}.")


def test_every_service_has_a_healthcheck_and_data_lives_in_named_volumes():
    compose = load_compose()
    for name in ("db", "qdrant", "web"):
        assert compose["services"][name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(compose["services"]["db"]["healthcheck"]["test"])
    assert "/readyz" in " ".join(compose["services"]["qdrant"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert compose["services"]["db"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert compose["services"]["qdrant"]["volumes"] == ["qdrant_storage:/qdrant/storage"]
    assert set(compose["volumes"]) == {"pgdata", "qdrant_storage"}


def test_web_is_wired_to_db_and_qdrant_by_environment():
    web = load_compose()["services"]["web"]
    environment = web["environment"]
    assert environment["DATABASE_URL"].endswith("@db:5432/catalog")
    assert environment["QDRANT_URL"] == "http://qdrant:6333"
    assert "DJANGO_SECRET_KEY" in environment
    assert web["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "qdrant": {"condition": "service_healthy"},
    }
    for step in ("migrate", "ensure_qdrant_collection", "gunicorn"):
        assert step in web["command"]


def test_worker_drains_the_change_log_once_web_is_ready():
    services = load_compose()["services"]
    worker = services["worker"]
    assert worker["command"] == "python manage.py sync_vectors --watch"
    assert worker["environment"] == {
        k: v for k, v in services["web"]["environment"].items() if k in worker["environment"]
    }
    assert {"DATABASE_URL", "QDRANT_URL", "DJANGO_SECRET_KEY"} <= set(worker["environment"])
    assert worker["depends_on"] == {"web": {"condition": "service_healthy"}}
