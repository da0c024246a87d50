"""The embedded engine: Qdrant Edge shards behind qdrant-client's API.

Qdrant Edge (`qdrant-edge-py`) is Qdrant's own engine in-process: segments, HNSW, payload
indexes, a write-ahead log, mmap storage. It has shards, not collections, so `EdgeStore`
gives the rest of the project the methods and return types it uses with a server:

    QDRANT_PATH/
        collections/<name>/   one Edge shard per collection (products_v1, products_v2, ...),
                              and catalog_metadata.json: the collection's metadata
        aliases.json          {"products": "products_v1"}, replaced atomically

Filters, payload index schemas and points are translated both ways (ids come back as
strings, as from a server); Edge's errors (plain `Exception`s with a message) become
`vectors.exceptions` errors. Only vectors/client.py constructs an EdgeStore; callers hold
its one lock (GuardedClient), so nothing here is re-entrant on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as edge
from qdrant_client import models
from qdrant_client.http import models as rest  # `models.QueryResponse` is fastembed's

from config.errors import first_line
from vectors.conf import QdrantConfig
from vectors.exceptions import (
    CollectionAlreadyExists,
    CollectionNotFound,
    VectorStoreError,
    VectorStoreUnavailable,
)

logger = logging.getLogger(__name__)

COLLECTIONS_DIR = "collections"
TEMP_SEGMENTS_DIR = "temp_segments"  # inside a shard: index builds under way
ALIASES_FILE = "aliases.json"
METADATA_FILE = "catalog_metadata.json"  # a collection's metadata (Edge keeps none)
# Written by qdrant-client's local mode, which held embedded stores before Qdrant Edge.
LEGACY_FILES = ("meta.json", "collection")
NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")

# How a new shard is built. Measured by bench/million.py at a million 768-d vectors on a
# 2-core machine; see the README's "Embedded engine" section for the figures.
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
# Filtered searches whose filter matches fewer points than this (in KB of vectors) score
# every matching point exactly instead of walking the graph: small filtered sets (one
# store's products within a price range) keep their recall.
FULL_SCAN_THRESHOLD_KB = 20_000
# Segments above this size (KB of vectors) get an HNSW index when optimize() runs.
INDEXING_THRESHOLD_KB = 20_000
# No segment grows past this (KB of vectors: ~230k points of 768 float32). The sync builds
# the index after every vectors.sync.INDEX_EVERY (200k) points; segments of that size are
# never merged into larger ones, whose build would take longer per point and hold the
# old and new copies of more vectors at once.
MAX_SEGMENT_KB = 700_000
# A segment is rebuilt without its deleted points once they are this share of it. A change
# to a point in an indexed segment moves the point out (copy-on-write), so one UPDATE of every
# price deletes points from every segment in the log's order, not the segments': at Qdrant's
# 0.2 each segment was rebuilt again and again as the sync went on.
DELETED_THRESHOLD = 0.5

_DISTANCES = {
    "Cosine": edge.Distance.Cosine,
    "Dot": edge.Distance.Dot,
    "Euclid": edge.Distance.Euclid,
    "Manhattan": edge.Distance.Manhattan,
}
_SCHEMA_TYPES = {
    "keyword": edge.PayloadSchemaType.Keyword,
    "integer": edge.PayloadSchemaType.Integer,
    "float": edge.PayloadSchemaType.Float,
    "geo": edge.PayloadSchemaType.Geo,
    "text": edge.PayloadSchemaType.Text,
    "bool": edge.PayloadSchemaType.Bool,
    "datetime": edge.PayloadSchemaType.Datetime,
    "uuid": edge.PayloadSchemaType.Uuid,
}
_SCHEMA_NAMES = {value: key for key, value in _SCHEMA_TYPES.items()}


def _value(enum_or_text: Any) -> str:
    return str(getattr(enum_or_text, "value", enum_or_text))


def _out_id(point_id: Any) -> Any:
    """Edge returns UUIDs as uuid.UUID; a server returns them as strings."""
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


def _in_id(point_id: Any) -> Any:
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


def _ids(selector: Any) -> list[Any]:
    if isinstance(selector, models.PointIdsList):
        return [_in_id(i) for i in selector.points]
    if isinstance(selector, list | tuple):
        return [_in_id(i) for i in selector]
    raise VectorStoreError(
        f"The embedded engine selects points by id only, not by {type(selector).__name__}."
    )


def unsupported(what: str) -> VectorStoreError:
    return VectorStoreError(f"The embedded engine does not support {what}.")


# Filters ----------------------------------------------------------------------------------


def _as_list(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    return list(conditions) if isinstance(conditions, list | tuple) else [conditions]


def edge_filter(query_filter: models.Filter | None) -> edge.Filter | None:
    """A qdrant-client Filter as an Edge Filter: only the conditions this project builds
    (values, float ranges, ids, nested filters); anything else is a clear "not supported"."""
    if query_filter is None:
        return None
    if query_filter.min_should is not None:
        raise unsupported("min_should filters")

    def convert(conditions: Any) -> list[Any] | None:
        items = _as_list(conditions)
        return None if items is None else [_condition(item) for item in items]

    return edge.Filter(
        must=convert(query_filter.must),
        should=convert(query_filter.should),
        must_not=convert(query_filter.must_not),
    )


def _condition(condition: Any) -> Any:
    if isinstance(condition, models.Filter):
        return edge_filter(condition)
    if isinstance(condition, models.HasIdCondition):
        return edge.HasIdCondition({_in_id(i) for i in condition.has_id})
    if isinstance(condition, models.FieldCondition):
        return _field_condition(condition)
    raise unsupported(f"the filter condition {type(condition).__name__}")


def _field_condition(condition: models.FieldCondition) -> edge.FieldCondition:
    match, bounds = condition.match, condition.range
    if match is not None:
        if isinstance(match, models.MatchValue):
            return edge.FieldCondition(key=condition.key, match=edge.MatchValue(match.value))
        raise unsupported(f"the match {type(match).__name__}")
    if isinstance(bounds, models.Range):
        return edge.FieldCondition(
            key=condition.key,
            range=edge.RangeFloat(gte=bounds.gte, gt=bounds.gt, lte=bounds.lte, lt=bounds.lt),
        )
    raise unsupported(f"the condition on {condition.key!r}")


def _dense(vector: Any) -> list[float]:
    """A dense vector as Edge takes it. Its container and first value are checked, not
    each of its 768 (that cost more than the search); Edge refuses anything else in it."""
    if hasattr(vector, "tolist"):
        vector = vector.tolist()
    if not (isinstance(vector, list) and vector and isinstance(vector[0], int | float)):
        raise unsupported("queries other than dense vectors")
    return vector


# Qdrant's recommendation strategies Edge offers (average_vector is a nearest query of the
# examples' average: vectors/recommend.py computes it on every engine alike).
RECOMMEND_STRATEGIES = {
    models.RecommendStrategy.BEST_SCORE: edge.Query.RecommendBestScore,
    models.RecommendStrategy.SUM_SCORES: edge.Query.RecommendSumScores,
}


def _edge_query(query: Any) -> Any:
    """A nearest query (MMR-diversified where asked) or a recommendation, as Edge takes it."""
    if isinstance(query, models.NearestQuery):
        if query.mmr is not None:
            diversity = 0.5 if query.mmr.diversity is None else query.mmr.diversity
            return edge.Mmr(
                _dense(query.nearest),
                lambda_=1.0 - diversity,  # Edge weighs relevance; Qdrant's API, diversity
                candidates_limit=query.mmr.candidates_limit or 100,
            )
        return edge.Query.Nearest(_dense(query.nearest))
    if isinstance(query, models.RecommendQuery):
        asked = query.recommend
        strategy = RECOMMEND_STRATEGIES.get(asked.strategy)
        if strategy is None:
            raise unsupported(f"the recommendation strategy {asked.strategy}")
        return strategy(
            edge.RecommendQuery(
                positives=[_dense(v) for v in asked.positive or []],
                negatives=[_dense(v) for v in asked.negative or []],
            )
        )
    return edge.Query.Nearest(_dense(query))


def _search_params(params: models.SearchParams | None) -> edge.SearchParams | None:
    if params is None:
        return None
    acorn = None
    if params.acorn is not None and params.acorn.enable:
        acorn = edge.AcornSearchParams(enable=True, max_selectivity=params.acorn.max_selectivity)
    quantization = None
    if params.quantization is not None:
        quantization = edge.QuantizationSearchParams(
            ignore=bool(params.quantization.ignore),
            rescore=params.quantization.rescore,
            oversampling=params.quantization.oversampling,
        )
    return edge.SearchParams(
        hnsw_ef=params.hnsw_ef, exact=bool(params.exact), quantization=quantization, acorn=acorn
    )


# Payload index schemas ------------------------------------------------------------------


def _edge_schema(field_schema: Any) -> Any:
    if isinstance(field_schema, models.KeywordIndexParams):
        return edge.KeywordIndexParams(
            is_tenant=field_schema.is_tenant, on_disk=field_schema.on_disk
        )
    if isinstance(field_schema, models.DatetimeIndexParams):
        return edge.DatetimeIndexParams(
            on_disk=field_schema.on_disk, enable_hnsw=field_schema.enable_hnsw
        )
    name = _value(getattr(field_schema, "type", field_schema))
    if name not in _SCHEMA_TYPES:
        raise unsupported(f"payload indexes of type {name!r}")
    return _SCHEMA_TYPES[name]


def _index_info(info: Any) -> models.PayloadIndexInfo:
    data_type = _SCHEMA_NAMES.get(info.data_type, "keyword")
    params = None
    if data_type == "keyword" and info.params is not None:
        params = models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, is_tenant=info.params.is_tenant
        )
    return models.PayloadIndexInfo(
        data_type=models.PayloadSchemaType(data_type), params=params, points=info.points
    )


def _return_freed_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc's malloc_trim; elsewhere
    nothing): a closed shard's memory otherwise stays in the process's RssAnon."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _remove_interrupted_builds(shard_path: Path) -> None:
    """An index build writes its segment under temp_segments/ and moves it into segments/
    when done; a process killed mid-build leaves the half-built one there for good (Qdrant
    Edge 0.9 does not clear it on load, as a Qdrant server does). Only the store's one
    holder opens a shard (vectors/client.py's lock), so nothing else can be building."""
    for leftover in (shard_path / TEMP_SEGMENTS_DIR).glob("*"):
        logger.warning("removing an interrupted index build: %s", leftover)
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


# Errors -----------------------------------------------------------------------------------


@contextlib.contextmanager
def edge_errors(label: str) -> Iterator[None]:
    """Edge raises plain Exceptions whose message says what happened."""
    try:
        yield
    except VectorStoreError:
        raise
    except OSError as exc:
        raise VectorStoreUnavailable(f"{label} cannot be used: {first_line(exc)}") from exc
    except Exception as exc:
        message = first_line(exc)
        if "WouldBlock" in message:
            raise VectorStoreUnavailable(
                f"{label} is in use by another process (embedded Qdrant allows one process "
                "per path)."
            ) from exc
        if "No space left" in message or "Too many open files" in message:
            raise VectorStoreUnavailable(f"{label} cannot be written: {message}") from exc
        raise VectorStoreError(f"{label}: {message}") from exc


# The store --------------------------------------------------------------------------------


class EdgeStore:
    """Collections and aliases over Edge shard directories, with qdrant-client's signatures
    for the methods this project calls (see GuardedClient)."""

    def __init__(self, config: QdrantConfig):
        self.config = config
        self.label = config.label
        self.root = Path(config.path)
        self.collections_dir = self.root / COLLECTIONS_DIR
        self._shards: dict[str, edge.EdgeShard] = {}
        with edge_errors(self.label):
            self.collections_dir.mkdir(parents=True, exist_ok=True)
        self._operation = 0
        # This process holds the store alone (vectors/client.py's lock): the file is read
        # once, and every change goes through _save_aliases.
        self._alias_map: dict[str, str] | None = None

    # Layout.
    def legacy_store(self) -> bool:
        """True when QDRANT_PATH still holds qdrant-client local mode's files."""
        return any((self.root / name).exists() for name in LEGACY_FILES)

    def remove_legacy_store(self) -> None:
        for name in LEGACY_FILES:
            target = self.root / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists():
                target.unlink()

    def _dir(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise VectorStoreError(
                f"{self.label}: {name!r} is not a collection name (letters, digits, _ and -)."
            )
        return self.collections_dir / name

    def _names(self) -> list[str]:
        return sorted(
            entry.name
            for entry in self.collections_dir.iterdir()
            if NAME.fullmatch(entry.name) and (entry / "edge_config.json").exists()
        )

    def _aliases(self) -> dict[str, str]:
        """A copy of the alias map, to change and hand to _save_aliases."""
        if self._alias_map is None:
            try:
                self._alias_map = json.loads((self.root / ALIASES_FILE).read_text())
            except FileNotFoundError:
                self._alias_map = {}
            except (OSError, ValueError) as exc:
                raise VectorStoreError(
                    f"{self.label}: {ALIASES_FILE} cannot be read ({first_line(exc)})."
                ) from exc
        return dict(self._alias_map)

    def _save_aliases(self, aliases: dict[str, str]) -> None:
        # Written beside and renamed over: a crash leaves the old file or the new, whole.
        target = self.root / ALIASES_FILE
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with edge_errors(self.label):
            with open(temporary, "w") as handle:
                json.dump(aliases, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            directory = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self._alias_map = dict(aliases)

    def _physical(self, name: str) -> str:
        if self._alias_map is None:
            self._aliases()
        return self._alias_map.get(name, name)

    def _shard(self, collection_name: str) -> edge.EdgeShard:
        name = self._physical(collection_name)
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        path = self._dir(name)
        if not (path / "edge_config.json").exists():
            raise CollectionNotFound(f"{self.label}: Collection `{collection_name}` not found")
        with edge_errors(self.label):
            _remove_interrupted_builds(path)
            shard = self._shards[name] = edge.EdgeShard.load(str(path))
        return shard

    def _done(self) -> models.UpdateResult:
        self._operation += 1
        return models.UpdateResult(
            operation_id=self._operation, status=models.UpdateStatus.COMPLETED
        )

    def _update(self, collection_name: str, operation: Any) -> models.UpdateResult:
        shard = self._shard(collection_name)
        with edge_errors(self.label):
            shard.update(operation)
        return self._done()

    # Collections and aliases.
    def get_collections(self) -> models.CollectionsResponse:
        with edge_errors(self.label):
            names = self._names()
        return models.CollectionsResponse(
            collections=[models.CollectionDescription(name=name) for name in names]
        )

    def collection_exists(self, collection_name: str) -> bool:
        return (self._dir(collection_name) / "edge_config.json").exists()

    def create_collection(
        self,
        collection_name: str,
        vectors_config: models.VectorParams,
        on_disk_payload: bool | None = None,
        quantization_config: Any = None,
        metadata: dict[str, Any] | None = None,
        **ignored: Any,  # shards, replication: a server's concerns
    ) -> bool:
        path = self._dir(collection_name)
        if (path / "edge_config.json").exists():
            raise CollectionAlreadyExists(
                f"{self.label}: Collection `{collection_name}` already exists!"
            )
        if not isinstance(vectors_config, models.VectorParams):
            raise unsupported("named vectors")
        quantization = None
        if isinstance(quantization_config, models.ScalarQuantization):
            quantization = edge.ScalarQuantizationConfig(
                type=edge.ScalarType.Int8,
                quantile=quantization_config.scalar.quantile,
                always_ram=quantization_config.scalar.always_ram,
            )
        elif quantization_config is not None:
            raise unsupported(f"quantization {type(quantization_config).__name__}")
        edge_config = edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(
                size=vectors_config.size,
                distance=_DISTANCES[_value(vectors_config.distance)],
                on_disk=bool(vectors_config.on_disk),
            ),
            on_disk_payload=True if on_disk_payload is None else on_disk_payload,
            quantization_config=quantization,
            hnsw_config=edge.HnswIndexConfig(
                m=HNSW_M,
                ef_construct=HNSW_EF_CONSTRUCT,
                full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
            ),
            optimizers=edge.EdgeOptimizersConfig(
                indexing_threshold=INDEXING_THRESHOLD_KB,
                max_segment_size=MAX_SEGMENT_KB,
                deleted_threshold=DELETED_THRESHOLD,
            ),
        )
        if path.exists():  # a create that crashed half-way: nothing of value in it
            shutil.rmtree(path)
        with edge_errors(self.label):
            self._shards[collection_name] = edge.EdgeShard.create(str(path), edge_config)
            if metadata:
                self._write_metadata(path, metadata)
        return True

    def update_collection(
        self, collection_name: str, metadata: dict[str, Any] | None = None, **ignored: Any
    ) -> bool:
        """Only the collection's metadata (merged, a None value removes its key, as on a
        server); Edge's other settings are fixed at creation."""
        path = self._dir(self._physical(collection_name))
        if not (path / "edge_config.json").exists():
            raise CollectionNotFound(f"{self.label}: Collection `{collection_name}` not found")
        merged = {**self._metadata(path), **(metadata or {})}
        with edge_errors(self.label):
            self._write_metadata(path, {k: v for k, v in merged.items() if v is not None})
        return True

    @staticmethod
    def _metadata(path: Path) -> dict[str, Any]:
        # Qdrant Edge keeps no metadata of its own: a file of ours beside its config.
        try:
            return json.loads((path / METADATA_FILE).read_text())
        except FileNotFoundError:
            return {}

    @staticmethod
    def _write_metadata(path: Path, metadata: dict[str, Any]) -> None:
        temporary = path / f".{METADATA_FILE}.tmp"
        temporary.write_text(json.dumps(metadata, sort_keys=True))
        os.replace(temporary, path / METADATA_FILE)

    def delete_collection(self, collection_name: str) -> bool:
        path = self._dir(collection_name)
        if not path.exists():
            return False
        shard = self._shards.pop(collection_name, None)
        if shard is not None:
            with contextlib.suppress(Exception):
                shard.close()
        # Its aliases go with it, as on a server.
        aliases = self._aliases()
        kept = {alias: name for alias, name in aliases.items() if name != collection_name}
        if kept != aliases:
            self._save_aliases(kept)
        # Renamed first, so that a crash mid-delete never leaves a half shard under the name.
        trash = self.collections_dir / f".deleted-{collection_name}-{uuid.uuid4().hex[:8]}"
        with edge_errors(self.label):
            os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def get_collection(self, collection_name: str) -> models.CollectionInfo:
        name = self._physical(collection_name)
        shard = self._shard(name)
        with edge_errors(self.label):
            info = shard.info()
            stored = json.loads((self._dir(name) / "edge_config.json").read_text())
        vector = stored.get("vectors", {}).get("", {})
        quantization = None
        stored_quantization = stored.get("quantization_config") or {}
        if "scalar" in stored_quantization:
            quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8,
                    always_ram=stored_quantization["scalar"].get("always_ram"),
                )
            )
        hnsw = stored.get("hnsw_config") or {}
        # Only what the shard reports or was created with. Edge has no collection status or
        # optimizer state, and its optimizer settings are its own: those stay None rather
        # than a server's values it never said (built without validation for that reason).
        return models.CollectionInfo.model_construct(
            status=None,
            optimizer_status=None,
            indexed_vectors_count=info.indexed_vectors_count,
            points_count=info.points_count,
            segments_count=info.segments_count,
            payload_schema={
                field: _index_info(index) for field, index in info.payload_schema.items()
            },
            config=models.CollectionConfig.model_construct(
                params=models.CollectionParams(
                    vectors=models.VectorParams(
                        size=vector.get("size", 0),
                        distance=models.Distance(vector.get("distance", "Cosine")),
                        on_disk=bool(vector.get("on_disk")),
                    ),
                    on_disk_payload=stored.get("on_disk_payload", True),
                ),
                hnsw_config=models.HnswConfig.model_construct(**hnsw) if hnsw else None,
                optimizer_config=None,
                quantization_config=quantization,
                metadata=self._metadata(self._dir(name)) or None,
            ),
        )

    def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any, **ignored: Any
    ) -> models.UpdateResult:
        operation = edge.UpdateOperation.create_field_index(field_name, _edge_schema(field_schema))
        return self._update(collection_name, operation)

    def delete_payload_index(
        self, collection_name: str, field_name: str, **ignored: Any
    ) -> models.UpdateResult:
        return self._update(collection_name, edge.UpdateOperation.delete_field_index(field_name))

    def get_aliases(self) -> models.CollectionsAliasesResponse:
        return models.CollectionsAliasesResponse(
            aliases=[
                models.AliasDescription(alias_name=alias, collection_name=name)
                for alias, name in sorted(self._aliases().items())
            ]
        )

    def update_collection_aliases(
        self, change_aliases_operations: list[Any], **ignored: Any
    ) -> bool:
        """All the operations, or none of them: one file replaced at once."""
        aliases = self._aliases()
        for operation in change_aliases_operations:
            if isinstance(operation, models.CreateAliasOperation):
                change = operation.create_alias
                if not self.collection_exists(change.collection_name):
                    raise CollectionNotFound(
                        f"{self.label}: Collection `{change.collection_name}` not found"
                    )
                if change.alias_name in aliases or self.collection_exists(change.alias_name):
                    raise CollectionAlreadyExists(
                        f"{self.label}: Alias `{change.alias_name}` already exists!"
                    )
                aliases[change.alias_name] = change.collection_name
            elif isinstance(operation, models.DeleteAliasOperation):
                if aliases.pop(operation.delete_alias.alias_name, None) is None:
                    raise CollectionNotFound(
                        f"{self.label}: Alias `{operation.delete_alias.alias_name}` not found"
                    )
            elif isinstance(operation, models.RenameAliasOperation):
                change = operation.rename_alias
                if change.old_alias_name not in aliases:
                    raise CollectionNotFound(
                        f"{self.label}: Alias `{change.old_alias_name}` not found"
                    )
                aliases[change.new_alias_name] = aliases.pop(change.old_alias_name)
            else:
                raise unsupported(f"the alias operation {type(operation).__name__}")
        self._save_aliases(aliases)
        return True

    # Points.
    def upsert(self, collection_name: str, points: Any, **ignored: Any) -> models.UpdateResult:
        if isinstance(points, models.Batch):
            if not isinstance(points.vectors, list):
                raise unsupported("named vectors in batches of columns")
            payloads = points.payloads or [None] * len(points.ids)
            columns = zip(points.ids, points.vectors, payloads, strict=True)
        else:
            columns = ((point.id, point.vector, point.payload) for point in points)
        edge_points = [
            edge.Point(
                _in_id(point_id), vector.tolist() if hasattr(vector, "tolist") else vector, payload
            )
            for point_id, vector, payload in columns
        ]
        return self._update(collection_name, edge.UpdateOperation.upsert_points(edge_points))

    def delete(
        self, collection_name: str, points_selector: Any, **ignored: Any
    ) -> models.UpdateResult:
        if isinstance(points_selector, models.FilterSelector):
            operation = edge.UpdateOperation.delete_points_by_filter(
                edge_filter(points_selector.filter)
            )
        else:
            operation = edge.UpdateOperation.delete_points(_ids(points_selector))
        return self._update(collection_name, operation)

    def set_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, **ignored: Any
    ) -> models.UpdateResult:
        return self._update(
            collection_name, edge.UpdateOperation.set_payload(_ids(points), payload)
        )

    def batch_update_points(
        self, collection_name: str, update_operations: list[Any], **ignored: Any
    ) -> list[models.UpdateResult]:
        results = []
        for operation in update_operations:
            if isinstance(operation, models.SetPayloadOperation):
                change = operation.set_payload
                results.append(self.set_payload(collection_name, change.payload, change.points))
            elif isinstance(operation, models.UpsertOperation):
                results.append(self.upsert(collection_name, operation.upsert.points))
            elif isinstance(operation, models.DeleteOperation):
                results.append(self.delete(collection_name, operation.delete))
            else:
                raise unsupported(f"the batch operation {type(operation).__name__}")
        return results

    def retrieve(
        self,
        collection_name: str,
        ids: list[Any],
        with_payload: bool = True,
        with_vectors: bool = False,
        **ignored: Any,
    ) -> list[models.Record]:
        shard = self._shard(collection_name)
        with edge_errors(self.label):
            found = shard.retrieve([_in_id(i) for i in ids], with_payload, with_vectors)
        return [self._record(point) for point in found]

    def scroll(
        self,
        collection_name: str,
        scroll_filter: models.Filter | None = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: bool = True,
        with_vectors: bool = False,
        **ignored: Any,
    ) -> tuple[list[models.Record], Any]:
        shard = self._shard(collection_name)
        request = edge.ScrollRequest(
            offset=_in_id(offset),
            limit=limit,
            filter=edge_filter(scroll_filter),
            with_payload=with_payload,
            with_vector=with_vectors,
        )
        with edge_errors(self.label):
            points, next_offset = shard.scroll(request)
        return [self._record(point) for point in points], _out_id(next_offset)

    def count(
        self,
        collection_name: str,
        count_filter: models.Filter | None = None,
        exact: bool = True,
        **ignored: Any,
    ) -> models.CountResult:
        shard = self._shard(collection_name)
        with edge_errors(self.label):
            found = shard.count(edge.CountRequest(filter=edge_filter(count_filter), exact=exact))
        return models.CountResult(count=found)

    def query_points(
        self,
        collection_name: str,
        query: Any = None,
        query_filter: models.Filter | None = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: bool = True,
        with_vectors: bool = False,
        score_threshold: float | None = None,
        **ignored: Any,
    ) -> models.QueryResponse:
        # Built without validation: 768 floats a query would cost more than the search.
        request = models.QueryRequest.model_construct(
            query=query,
            filter=query_filter,
            params=search_params,
            limit=limit,
            offset=offset,
            with_payload=with_payload,
            with_vector=with_vectors,
            score_threshold=score_threshold,
        )
        return self.query_batch_points(collection_name, [request])[0]

    def query_batch_points(
        self, collection_name: str, requests: list[models.QueryRequest], **ignored: Any
    ) -> list[models.QueryResponse]:
        """Every request in one call: Edge runs a batch over its search threads at once."""
        shard = self._shard(collection_name)
        # A batch's requests usually share one SearchParams: translated once.
        params: dict[int, Any] = {}
        for request in requests:
            if id(request.params) not in params:
                params[id(request.params)] = _search_params(request.params)
        batch = [
            edge.QueryRequest(
                limit=request.limit or 10,
                offset=request.offset,
                query=_edge_query(request.query),
                filter=edge_filter(request.filter),
                params=params[id(request.params)],
                with_payload=bool(request.with_payload),
                with_vector=bool(request.with_vector),
                score_threshold=request.score_threshold,
            )
            for request in requests
        ]
        with edge_errors(self.label):
            answers = (
                [shard.query(batch[0])]
                if len(batch) == 1
                else shard.query_batch(edge.QueryBatchRequest(batch))
            )
        # Built without validation: Edge's answers are well-formed, and a batch of a
        # duplicates rebuild holds thousands of hits.
        return [
            rest.QueryResponse.model_construct(
                points=[
                    models.ScoredPoint.model_construct(
                        id=_out_id(hit.id),
                        version=hit.version,
                        score=hit.score,
                        payload=hit.payload,
                        vector=hit.vector,
                    )
                    for hit in hits
                ]
            )
            for hits in answers
        ]

    @staticmethod
    def _record(point: Any) -> models.Record:
        # Built without validation: Edge's points are well-formed, and validating a vector
        # of 768 floats cost more than reading it (a duplicates rebuild scrolls them all).
        return models.Record.model_construct(
            id=_out_id(point.id), payload=point.payload, vector=point.vector
        )

    # Index building and lifecycle.
    def optimize(self, collection_name: str) -> bool:
        """Build what the segments lack (HNSW, merges). Blocks, holding the GIL: for
        commands, never for a request.

        After a build the shard is closed and opened again: Qdrant Edge 0.9 keeps what the
        build replaced in memory while the shard stays open (measured, 50k points moved and
        rebuilt three times: +480 MB of mapped files and +74 MB anonymous a round, flat when
        reopened). At a million points that was most of the price sync's 18 GB RSS."""
        name = self._physical(collection_name)
        shard = self._shard(collection_name)
        with edge_errors(self.label):
            built = shard.optimize()
            if built:
                self._close_shard(name)
                # Opened again at once, as the first time: another process could take the
                # store in the moment it is closed, and then this fails as "in use".
                self._shard(collection_name)
        return built

    def segments_dir(self, collection_name: str) -> Path:
        """Where the collection's segment files are (read ahead by vectors/page_cache.py)."""
        return self._dir(self._physical(collection_name)) / "segments"

    def _close_shard(self, name: str) -> None:
        # Under GuardedClient's call lock, as every call is: no other thread uses the shard.
        shard = self._shards.pop(name)
        shard.flush()
        shard.close()
        _return_freed_memory()

    def flush(self) -> None:
        with edge_errors(self.label):
            for shard in self._shards.values():
                shard.flush()

    def close(self) -> None:
        shards = list(self._shards.values())
        self._shards.clear()
        for shard in shards:
            with contextlib.suppress(Exception):
                shard.flush()
            with contextlib.suppress(Exception):
                shard.close()
