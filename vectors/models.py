from django.db import models
from django.db.models.functions import Now


class FilledCollection(models.Model):
    """A Qdrant collection the catalog has queued in full, by the generation written into
    its metadata when it was created (vectors/fill.py). A collection whose generation is
    not here is new to the catalog: a new QDRANT_PATH, a new server, a recreated one."""

    generation = models.UUIDField(primary_key=True)
    collection = models.CharField(max_length=255, help_text="Its physical name, for reading.")
    queued = models.PositiveBigIntegerField(help_text="Products queued to fill it.")
    queued_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"{self.collection} ({self.generation})"
