from django.apps import AppConfig


class VectorsConfig(AppConfig):
    """Everything Qdrant: the client, collection setup, checks, sync and search."""

    name = "vectors"
    verbose_name = "Vectors"

    def ready(self) -> None:
        from vectors import checks  # noqa: F401 - registers the system checks
