import atexit
import sys
from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _reset_clients_if_any(**kwargs: Any) -> None:
    """Close the Qdrant clients, if vectors.client was ever imported: the hooks must not
    import it themselves (qdrant_client costs half a second of every command's start-up)."""
    client = sys.modules.get("vectors.client")
    if client is not None:
        client.reset_qdrant_clients()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("QDRANT", "BASE_DIR"):
        _reset_clients_if_any()


class VectorsConfig(AppConfig):
    """Everything Qdrant: the client, collection setup, checks, sync and search."""

    name = "vectors"
    verbose_name = "Vectors"

    def ready(self) -> None:
        from vectors import checks  # noqa: F401 - registers the system checks

        atexit.register(_reset_clients_if_any)
        setting_changed.connect(_on_setting_changed, dispatch_uid="vectors.client.reset")
