"""The products collection: its spec, how the live one compares, and creating it.

The configured name (QDRANT_COLLECTION, `products`) is normally an alias of a versioned
physical collection (`products_v1`, ...), so that a re-index can build the next version and
swap the alias without downtime. A physical collection under the plain name works too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from vectors.client import GuardedClient, models
from vectors.conf import Engine, QdrantConfig
from vectors.exceptions import (
    CollectionAlreadyExists,
    CollectionMismatch,
    CollectionNotFound,
    VectorStoreError,
)
from vectors.fill import new_generation
from vectors.points import PAYLOAD_INDEXES, RETIRED_PAYLOAD_INDEXES

LEGACY_STORE_NOTICE = (
    "QDRANT_PATH also holds vectors written by qdrant-client's local mode, which this version "
    "no longer reads (the embedded engine is now Qdrant Edge). Rebuild them from PostgreSQL "
    "with `manage.py reindex_vectors` (or start afresh with `make clean`)."
)


def _schema_type(schema: Any) -> str:
    value = getattr(schema, "type", schema)
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class Difference:
    """One way the live collection differs from the spec. Blocking ones mean the vectors
    themselves do not fit, and only a re-created collection can fix them."""

    setting: str
    expected: Any
    found: Any
    blocking: bool = False

    def __str__(self) -> str:
        return f"{self.setting}: expected {self.expected}, found {self.found}"


@dataclass
class CollectionState:
    name: str
    physical_name: str
    points_count: int | None
    differences: list[Difference] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)

    @property
    def via_alias(self) -> bool:
        return self.name != self.physical_name

    @property
    def blocking(self) -> list[Difference]:
        return [d for d in self.differences if d.blocking]

    @property
    def ok(self) -> bool:
        return not self.differences and not self.missing_indexes


@dataclass
class EnsureReport:
    state: CollectionState
    created: bool = False
    recreated: bool = False
    indexes_added: list[str] = field(default_factory=list)


def first_physical_name(config: QdrantConfig) -> str:
    return f"{config.collection}_v1"


def resolve_collection(*, client: GuardedClient, name: str) -> str | None:
    """The physical collection behind `name` (an alias or a collection), or None."""
    for alias in client.get_aliases().aliases:
        if alias.alias_name == name:
            return alias.collection_name
    return name if client.collection_exists(name) else None


def _vector_params(config: QdrantConfig) -> models.VectorParams:
    return models.VectorParams(
        size=config.vector_size,
        distance=models.Distance(config.distance),
        on_disk=config.on_disk_vectors or None,
    )


def _quantization(config: QdrantConfig) -> models.ScalarQuantization | None:
    if config.quantization != "int8":
        return None
    # Quantized vectors stay in RAM for speed; the originals may live on disk.
    return models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
    )


def compare_with_spec(
    *, info: models.CollectionInfo, config: QdrantConfig, engine: Engine
) -> tuple[list[Difference], list[str]]:
    """Every difference between a live collection and the spec, and the payload indexes
    missing from it. qdrant-client's local mode ("memory") keeps only the vectors' size and
    distance, so only those are compared; embedded Qdrant Edge has no shards or replicas."""
    differences: list[Difference] = []
    params = info.config.params
    vectors = params.vectors
    if not isinstance(vectors, models.VectorParams):
        names = sorted(vectors or {})
        differences.append(
            Difference("vectors", "one unnamed vector", f"named vectors {names}", blocking=True)
        )
        return differences, []
    if vectors.size != config.vector_size:
        differences.append(Difference("vector size", config.vector_size, vectors.size, True))
    if vectors.distance.value != config.distance:
        differences.append(Difference("distance", config.distance, vectors.distance.value, True))
    if engine is Engine.MEMORY:
        return differences, []

    if params.on_disk_payload is not True:
        differences.append(Difference("on_disk_payload", True, params.on_disk_payload))
    if bool(vectors.on_disk) != config.on_disk_vectors:
        differences.append(Difference("on-disk vectors", config.on_disk_vectors, vectors.on_disk))
    for setting in ("shard_number", "replication_factor", "write_consistency_factor"):
        expected = getattr(config, setting) if engine is Engine.SERVER else None
        found = getattr(params, setting)
        if expected is not None and found != expected:
            differences.append(Difference(setting, expected, found))
    found_quantization = info.config.quantization_config
    found_int8 = isinstance(found_quantization, models.ScalarQuantization)
    if found_int8 != (config.quantization == "int8"):
        differences.append(
            Difference(
                "quantization",
                config.quantization or "none",
                "int8" if found_int8 else (found_quantization or "none"),
            )
        )

    schema = info.payload_schema or {}
    missing: list[str] = []
    for field_name, wanted in PAYLOAD_INDEXES.items():
        present = schema.get(field_name)
        if present is None:
            missing.append(field_name)
        elif _schema_type(present.data_type) != _schema_type(wanted):
            differences.append(
                Difference(
                    f"payload index {field_name}",
                    _schema_type(wanted),
                    _schema_type(present.data_type),
                )
            )
    return differences, missing


def collection_inspect(
    *, client: GuardedClient, config: QdrantConfig, physical: str | None = None
) -> CollectionState:
    """Read-only: how the configured collection compares with the spec. `physical` skips
    resolving the alias when the caller has just done so."""
    physical = physical or resolve_collection(client=client, name=config.collection)
    if physical is None:
        raise CollectionNotFound(
            f"Collection {config.collection!r} does not exist in {config.label}."
        )
    info = client.get_collection(physical)
    differences, missing = compare_with_spec(info=info, config=config, engine=client.engine)
    return CollectionState(
        name=config.collection,
        physical_name=physical,
        points_count=info.points_count,
        differences=differences,
        missing_indexes=missing,
    )


def _create_collection(*, client: GuardedClient, config: QdrantConfig, name: str) -> None:
    client.create_collection(
        collection_name=name,
        vectors_config=_vector_params(config),
        on_disk_payload=True,
        shard_number=config.shard_number,
        replication_factor=config.replication_factor,
        write_consistency_factor=config.write_consistency_factor,
        quantization_config=_quantization(config),
        # Tells the catalog that this collection is new and must be filled (vectors/fill.py).
        metadata=new_generation(),
    )


def create_physical(*, client: GuardedClient, config: QdrantConfig, name: str) -> None:
    """A collection with the configured spec under `name` (no alias), payload indexes
    included."""
    _create_collection(client=client, config=config, name=name)
    if client.engine is not Engine.MEMORY:
        add_payload_indexes(client=client, physical=name, fields=list(PAYLOAD_INDEXES))


def _create(*, client: GuardedClient, config: QdrantConfig) -> None:
    physical = first_physical_name(config)
    # Another process may win the race, or a crashed run may have left it: verified below.
    with contextlib.suppress(CollectionAlreadyExists):
        _create_collection(client=client, config=config, name=physical)
    try:
        client.update_collection_aliases(
            change_aliases_operations=[
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(
                        collection_name=physical, alias_name=config.collection
                    )
                )
            ]
        )
    except VectorStoreError:
        # Lost a race for the alias; fine if it now points somewhere real.
        if resolve_collection(client=client, name=config.collection) is None:
            raise


def _drop(*, client: GuardedClient, config: QdrantConfig, physical: str) -> None:
    client.delete_collection(physical)  # its aliases go with it
    leftover = first_physical_name(config)
    if physical != leftover:
        # Recreating starts again at _v1, which must not be an old copy.
        with contextlib.suppress(CollectionNotFound):
            client.delete_collection(leftover)


def add_payload_indexes(*, client: GuardedClient, physical: str, fields: list[str]) -> None:
    for field_name in fields:
        client.create_payload_index(
            collection_name=physical,
            field_name=field_name,
            field_schema=PAYLOAD_INDEXES[field_name],
            wait=True,
        )


def drop_retired_payload_indexes(*, client: GuardedClient, physical: str, schema) -> list[str]:
    """Indexes of payload fields no filter reads any more (PAYLOAD's earlier versions): each
    costs every index build its payload-aware links. Returns the dropped fields."""
    retired = [name for name in RETIRED_PAYLOAD_INDEXES if name in (schema or {})]
    for field_name in retired:
        client.delete_payload_index(collection_name=physical, field_name=field_name, wait=True)
    return retired


def collection_ensure(
    *, client: GuardedClient, config: QdrantConfig, recreate: bool = False
) -> EnsureReport:
    """Create the collection when missing, add missing payload indexes, and verify it.

    Never destroys data unless `recreate` is set. Raises CollectionMismatch when the vectors
    do not fit the spec; safe to run concurrently.
    """
    physical = resolve_collection(client=client, name=config.collection)
    recreated = physical is not None and recreate
    if recreated:
        _drop(client=client, config=config, physical=physical)
    if physical is None or recreated:
        _create(client=client, config=config)
        state = collection_inspect(client=client, config=config)
    else:
        state = collection_inspect(client=client, config=config, physical=physical)
    if state.blocking:
        raise CollectionMismatch(
            f"Collection {config.collection!r} does not fit the configured vectors: "
            + "; ".join(str(d) for d in state.blocking)
            + ". Nothing was changed.",
            differences=state.differences,
        )
    indexes_added = state.missing_indexes
    if indexes_added:
        add_payload_indexes(client=client, physical=state.physical_name, fields=indexes_added)
        state = collection_inspect(client=client, config=config, physical=state.physical_name)
    return EnsureReport(
        state=state,
        created=physical is None,
        recreated=recreated,
        indexes_added=indexes_added,
    )


def unindexed_backlog(*, client: GuardedClient, config: QdrantConfig) -> int:
    """Embedded Qdrant Edge: how many points are searched without the HNSW index, when they
    are more than one segment's indexing threshold (0 otherwise, and with a server, which
    indexes by itself). A sync or index build killed part-way leaves such a backlog; the next
    sync_vectors builds it."""
    if client.engine is not Engine.EDGE:
        return 0
    from vectors.edge import INDEXING_THRESHOLD_KB

    info = client.get_collection(config.collection)
    unindexed = max(0, (info.points_count or 0) - (info.indexed_vectors_count or 0))
    threshold_points = INDEXING_THRESHOLD_KB * 1024 // (config.vector_size * 4)
    return unindexed if unindexed > threshold_points else 0
