import pytest
from django.core.exceptions import ImproperlyConfigured

from vectors.conf import Engine, parse_qdrant_settings, qdrant_config


def test_defaults_run_embedded_under_var(settings):
    config, problems = parse_qdrant_settings({})
    assert problems == []
    assert config.engine is Engine.EDGE
    assert config.path == str(settings.BASE_DIR / "var" / "qdrant")
    assert (config.collection, config.vector_size, config.distance) == ("products", 768, "Cosine")


def test_a_url_means_a_server():
    config, problems = parse_qdrant_settings(
        {"URL": "https://qdrant.example:6333", "API_KEY": "k", "TIMEOUT": "2.5"}
    )
    assert problems == []
    assert config.engine is Engine.SERVER and config.path is None
    assert config.timeout == 2.5


def test_label_names_the_server_but_never_credentials():
    config, _ = parse_qdrant_settings(
        {"URL": "https://user:pa55@qdrant.example:6333/", "API_KEY": "sekret"}
    )
    assert config.label == "Qdrant at https://qdrant.example:6333"
    assert "sekret" not in repr(config)


def test_host_port_and_https():
    config, problems = parse_qdrant_settings({"HOST": "qdrant", "PORT": "7000", "HTTPS": "yes"})
    assert problems == []
    assert config.label == "Qdrant at https://qdrant:7000"


def test_distance_is_case_insensitive():
    config, problems = parse_qdrant_settings({"DISTANCE": "DOT"})
    assert (config.distance, problems) == ("Dot", [])


@pytest.mark.parametrize(
    ("raw", "variable", "kind"),
    [
        ({"VECTOR_SIZE": "0"}, "QDRANT_VECTOR_SIZE", "vector_size"),
        ({"VECTOR_SIZE": "768.5"}, "QDRANT_VECTOR_SIZE", "vector_size"),
        ({"VECTOR_SIZE": "70000"}, "QDRANT_VECTOR_SIZE", "vector_size"),
        ({"DISTANCE": "hamming"}, "QDRANT_DISTANCE", "distance"),
        ({"URL": "localhost:6333"}, "QDRANT_URL", "url"),
        ({"URL": "http://"}, "QDRANT_URL", "url"),
        ({"URL": "http://q:99999"}, "QDRANT_URL", "url"),
        ({"URL": "http://q", "HOST": "q"}, "QDRANT_HOST", "url"),
        ({"URL": "http://q:6333", "PATH": "/data/q"}, "QDRANT_PATH", "server_and_path"),
        ({"HOST": "q", "PATH": ":memory:"}, "QDRANT_PATH", "server_and_path"),
        ({"PORT": "http"}, "QDRANT_PORT", "value"),
        ({"TIMEOUT": "-1"}, "QDRANT_TIMEOUT", "value"),
        ({"PREFER_GRPC": "maybe"}, "QDRANT_PREFER_GRPC", "value"),
        ({"SHARD_NUMBER": "0"}, "QDRANT_SHARD_NUMBER", "value"),
        ({"QUANTIZATION": "binary"}, "QDRANT_QUANTIZATION", "value"),
    ],
)
def test_invalid_values_are_reported_by_variable(raw, variable, kind):
    _, problems = parse_qdrant_settings(raw)
    assert [(p.variable, p.kind) for p in problems] == [(variable, kind)]


def test_a_bad_url_is_not_echoed():
    _, problems = parse_qdrant_settings({"URL": "ftp://user:pa55@q"})
    assert "pa55" not in problems[0].message


def test_qdrant_config_raises_one_message_per_problem(settings):
    settings.QDRANT = {"VECTOR_SIZE": "x", "DISTANCE": "y"}
    with pytest.raises(ImproperlyConfigured) as excinfo:
        qdrant_config()
    assert "QDRANT_VECTOR_SIZE" in str(excinfo.value)
    assert "QDRANT_DISTANCE" in str(excinfo.value)
