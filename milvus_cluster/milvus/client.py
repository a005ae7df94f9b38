"""The one door to Milvus: connecting, describing, reading, searching, writing.

Only this module holds a `MilvusClient`. Everything it hands out is a plain value
(rows as dicts, numpy arrays, the frozen values of describe.py), and every pymilvus
or gRPC error leaves it as one of ours with a message for people, never as
`<MilvusException: (code=…)>`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import Any

import numpy as np

from milvus_cluster.errors import CollectionError, MilvusClusterError
from milvus_cluster.milvus.capabilities import Capabilities, cached, remember
from milvus_cluster.milvus.describe import (
    CollectionInfo,
    Description,
    choose_vector_field,
    index_spec,
    metric_of,
)
from milvus_cluster.milvus.expressions import key_filter, quoted
from milvus_cluster.milvus.in_flight import in_order
from milvus_cluster.milvus.lite_files import drop_broken_index_files
from milvus_cluster.milvus.probe import probe
from milvus_cluster.milvus.translate import (
    check_lite_file,
    check_lite_path,
    command_line,
    connect_error,
    is_lite,
    lite_lock_holder,
    redact,
    translated,
)

READ_BATCH = 10_000  # query_iterator: ~7k rows/s at 10,000 a batch on Lite, ~180 at 10
# Queries in flight when a server is read by key ranges: 7,472 rows/s with 4 against
# 3,125 with 1 and 3,257 for query_iterator (200,000 × 384-d, Milvus 2.3.5, 2 cores
# at load ~8; README, Scale).
READ_STREAMS = 4
RANGE_LIMIT = 16_384  # Milvus's largest query limit; a range holds READ_BATCH keys
WRITE_BATCH = 2_000
# Whole-row rewrites on a server without partial upsert: a Strong read of REWRITE_BATCH
# rows by key, then their upsert, REWRITES_IN_FLIGHT at once (each read waits ~0.2 s
# for the time tick). On 2.3.5 (20,000 × 384-d rows, idle, README Scale): 500 × 4
# rewrote 3,344 rows/s with a 0.57 s read-to-upsert window a row, 200 × 8 2,169-2,520
# rows/s with 0.62-0.72 s; more in flight or larger batches widen the window.
REWRITE_BATCH = 500
REWRITES_IN_FLIGHT = 4
# Reads must see every write acknowledged before them: a server's default (Bounded)
# counts 0 rows right after an insert.
STRONG = "Strong"
# Every read returns FLOAT_VECTOR values as float32 numpy rows, views of one array per
# response, not lists of Python floats: 10,000 rows × 384-d decode in 0.09 s, against
# 0.22-0.25 s, and stack into a matrix in 0.005 s, against 0.07-0.18 s (pymilvus
# 3.0.2). A pass over a million rows costs ~15 s of the client's CPU less, and a copy
# makes five; a pymilvus without the option returns lists, which work the same.
ARRAYS = {"strict_float32": True}


_PROBED: dict[tuple[str, str], Capabilities] = {}


class Milvus:
    """A connected MilvusClient and the few facts about its server we rely on."""

    def __init__(self, client: Any, uri: str, db_name: str) -> None:
        self.client = client
        self.uri = uri
        self.db_name = db_name or "default"
        self.lite = is_lite(uri)

    def calls(self, wanted: int) -> int:
        """How many calls to have in flight at once: `wanted` on a server, one on Milvus
        Lite (it runs in this process, a call at a time; milvus/in_flight.py)."""
        return 1 if self.lite else wanted

    @classmethod
    def connect(
        cls,
        uri: str,
        token: str = "",
        db_name: str = "",
        timeout: float = 30,
        create: bool = True,
    ) -> Milvus:
        """Connect; `create=False` refuses a Milvus Lite file that does not exist yet
        (rather than making an empty one)."""
        MilvusClient = pymilvus().MilvusClient
        without_timestamp_warnings()

        lite = is_lite(uri)
        if lite:
            (check_lite_path if create else check_lite_file)(uri)
        # A Milvus Lite file whose server this process has just closed stays locked for
        # a moment while that server stops: a Lite open is tried again before it fails.
        for attempt in range(3 if lite else 1):
            try:
                client = MilvusClient(uri=uri, token=token, db_name=db_name, timeout=timeout)
                client.list_collections()  # a wrong database only shows at the first call
                return cls(client, uri, db_name)
            except Exception as error:  # pymilvus raises several kinds here
                if attempt == 2 or not (lite and lite_lock_holder(uri) == os.getpid()):
                    raise connect_error(error, uri, db_name) from error
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()

    def hint(self, command: str) -> str:
        """`milvus-cluster COMMAND` with this connection's --uri and --db-name (no token),
        for messages that tell a person what to run next."""
        return command_line(command, self.uri, self.db_name)

    def __enter__(self) -> Milvus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, action: str, name: str = "") -> Iterator[None]:
        """Turn what pymilvus and gRPC raise into our errors, with a message for people."""
        try:
            yield
        except MilvusClusterError:
            raise
        except Exception as error:
            raise translated(error, action, name, self.uri, self.db_name) from error

    # -- describing --------------------------------------------------------

    def collections(self) -> list[str]:
        with self._errors("list the collections"):
            return list(self.client.list_collections())

    def has(self, name: str) -> bool:
        with self._errors("check for a collection", name):
            return bool(self.client.has_collection(name))

    def _described(self, name: str) -> dict[str, Any]:
        with self._errors("describe the collection", name):
            return self.client.describe_collection(name)

    def describe(self, name: str) -> Description:
        """The collection's schema and properties (through an alias: its target's)."""
        return Description.of(self._described(name))

    def resolve(self, name: str) -> str:
        """The collection a name or alias reaches."""
        return self.describe(name).name

    def property(self, name: str, key: str) -> str | None:
        """One of the collection's properties; None (or "", once cleared) when unset."""
        return self.describe(name).property(key)

    def indexes(self, name: str) -> list[dict[str, Any]]:
        with self._errors("describe the indexes", name):
            names = self.client.list_indexes(name)
            return [self.client.describe_index(name, index) for index in names]

    def aliases(self, name: str) -> list[str]:
        """Aliases pointing at the collection. Milvus 2.3 lists aliases of the default
        database only; elsewhere the collection's own description says them."""
        try:
            with self._errors("list aliases", name):
                return list(self.client.list_aliases(collection_name=name).get("aliases", []))
        except CollectionError:
            return list(self._described(name).get("aliases") or [])

    def partitions(self, name: str) -> list[str]:
        with self._errors("list partitions", name):
            return list(self.client.list_partitions(name))

    def count(self, name: str, filter: str = "") -> int:
        with self._errors("count rows", name):
            rows = self.client.query(
                name, filter=filter, output_fields=["count(*)"], consistency_level=STRONG
            )
            return int(rows[0]["count(*)"])

    def row_count(self, name: str) -> int:
        """Rows as Milvus's statistics count them: no query, so the collection need not
        be loaded (deleted rows may count until a compaction)."""
        with self._errors("read the statistics", name):
            return int(self.client.get_collection_stats(name).get("row_count", 0))

    def loaded(self, name: str) -> bool:
        with self._errors("check the load state", name):
            state = self.client.get_load_state(name).get("state")
            return str(state).endswith("Loaded") and "NotLoad" not in str(state)

    def load(self, name: str) -> None:
        try:
            self._load(name)
        except MilvusClusterError:
            # An index file a killed process left half written stays so: Lite builds
            # it again once it is gone (lite_files.py).
            if not self.lite or not drop_broken_index_files(self.uri, name):
                raise
            self._load(name)

    def _load(self, name: str) -> None:
        for attempt in range(3):
            try:
                with self._errors("load the collection", name):
                    self.client.load_collection(name)
                return
            except MilvusClusterError:
                # Milvus Lite can read an index file its background build is still writing.
                if not self.lite or attempt == 2:
                    raise
                time.sleep(1 + attempt)

    def release(self, name: str) -> None:
        with self._errors("release the collection", name):
            self.client.release_collection(name)

    @contextmanager
    def loaded_for_run(self, name: str) -> Iterator[None]:
        """Load a collection that is not loaded, and release it again afterwards (Milvus
        Lite forgets load states between processes, servers keep them)."""
        was_loaded = self.loaded(name)
        if not was_loaded:
            self.load(name)
        try:
            yield
        finally:
            if not was_loaded and self.has(name):
                with suppress(MilvusClusterError):  # the run's outcome matters more
                    self.release(name)

    def version(self) -> str:
        with self._errors("ask the server version"):
            return str(self.client.get_server_version())

    def capabilities(self) -> Capabilities:
        """Probed once per server version (see probe.py), then kept in this process and
        on disk for the next ones (capabilities.cached)."""
        key = (redact(self.uri), self.db_name)
        if key not in _PROBED:
            on_disk = f"{key[0]}|{key[1]}|{self.version()}"
            found = None if self.lite else cached(on_disk)
            if found is None:
                found = probe(self)
                if found.probed:
                    remember(on_disk, found)
            _PROBED[key] = found
        return _PROBED[key]

    def inspect(
        self, name: str, vector_field: str | None = None, count: bool = False
    ) -> CollectionInfo:
        """Describe a collection and choose the vector field to cluster; `count` its rows
        too (which needs it loaded), else rows is -1."""
        if not self.has(name):
            raise CollectionError(
                f"Collection {name!r} does not exist in database {self.db_name!r} at "
                f"{redact(self.uri)}; check -c/--collection (and --db-name, --uri)."
            )
        description = self.describe(name)
        real = description.name
        field = choose_vector_field(description.fields, vector_field, real)
        index = next((i for i in self.indexes(real) if i.get("field_name") == field.name), None)
        if index is None:
            raise CollectionError(
                f"Vector field {field.name!r} of {real!r} has no index, so Milvus cannot "
                "search it; create one (e.g. HNSW or AUTOINDEX) and run again."
            )
        return CollectionInfo(
            name=real,
            requested=name,
            aliases=tuple(self.aliases(real)),
            pk=description.primary.name,
            pk_type=description.primary.type,
            auto_id=description.auto_id,
            vector_field=field.name,
            dim=field.dim,
            metric=metric_of(index, field.name),
            index_type=str(index.get("index_type", "")),
            fields=description.fields,
            dynamic=description.dynamic,
            rows=self.count(real) if count else -1,
            properties=description.properties,
            function_outputs=description.function_outputs,
        )

    # -- reading -----------------------------------------------------------

    def iterate(
        self,
        name: str,
        fields: Sequence[str],
        filter: str = "",
        batch_size: int = READ_BATCH,
        partition: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row's `fields`, a batch at a time. The iterator is always closed."""
        with self._errors("start reading", name):
            iterator = self.client.query_iterator(
                name,
                batch_size=batch_size,
                filter=filter,
                output_fields=list(fields),
                partition_names=[partition] if partition else None,
                consistency_level=STRONG,
                **ARRAYS,
            )
        _escape_cursor(iterator)
        try:
            while True:
                with self._errors("read", name):
                    batch = iterator.next()
                if not batch:
                    return
                yield batch
        finally:
            iterator.close()

    def iterate_key_ranges(
        self,
        name: str,
        pk: str,
        fields: Sequence[str],
        keys: np.ndarray,
        streams: int = READ_STREAMS,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row's `fields`, by INT64 key ranges cut every READ_BATCH keys of `keys`
        (sorted), `streams` queries in flight from threads, the batches in key order.
        The first range has no lower bound and the last no upper one, so the ranges
        cover every key there is, inserted since `keys` was read or not. A range that
        grew past the query limit meanwhile is read with an iterator instead."""
        cuts = [int(key) for key in keys[READ_BATCH::READ_BATCH]]
        if not cuts:  # one range: nothing to read in parallel
            yield from self.iterate(name, fields)
            return
        bounds = list(zip([None, *cuts], [*cuts, None]))

        def one(bound: tuple[int | None, int | None]) -> list[dict[str, Any]]:
            low, high = bound
            parts = ([f"{pk} >= {low}"] if low is not None else []) + (
                [f"{pk} < {high}"] if high is not None else []
            )
            expression = " and ".join(parts)
            rows = self.query(name, expression, fields, limit=RANGE_LIMIT)
            if len(rows) < RANGE_LIMIT:
                return rows
            return [row for batch in self.iterate(name, fields, expression) for row in batch]

        yield from in_order(one, bounds, streams, "read-range")

    def search(
        self, info: CollectionInfo, vectors: np.ndarray, limit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest rows of each query vector, as flat arrays (query index, key, raw distance)."""
        return self.search_where(info, vectors, limit)[:3]

    # -- writing -----------------------------------------------------------

    def upsert(
        self, name: str, rows: list[dict[str, Any]], partial: bool, partition: str | None = None
    ) -> None:
        """Upsert rows; an upsert moves a row into `partition` (default: _default), so
        rows of a manual partition are written naming it."""
        options: dict[str, Any] = {"partial_update": True} if partial else {}
        with self._errors("write labels", name):
            self.client.upsert(name, rows, partition_name=partition or "", **options)

    def insert(self, name: str, rows: list[dict[str, Any]], partition: str | None = None) -> None:
        with self._errors("insert rows", name):
            self.client.insert(name, rows, partition_name=partition or "")

    def manual_partitions(self, name: str) -> list[str | None]:
        """The partitions rows must be read and written by: [None] when there is only
        _default or a partition key routes the rows, else every partition, _default last."""
        partitions = self.partitions(name)
        if self.describe(name).partition_key or partitions == ["_default"]:
            return [None]
        return sorted(partitions, key=lambda p: p == "_default")

    def iterate_by_partition(
        self,
        name: str,
        pk: str,
        fields: Sequence[str],
        filter: str = "",
        batch_size: int = READ_BATCH,
        int_keys: np.ndarray | None = None,
    ) -> Iterator[tuple[str | None, list[dict[str, Any]]]]:
        """(partition, rows) for every row once, with the partition it lives in (None when
        partitions do not matter). Milvus Lite 3.2.2 returns every row when asked for
        _default alone, so _default comes last and rows seen before are skipped.
        `int_keys`, the sorted INT64 keys the caller knows to be there (more may be):
        on a server without manual partitions the rows are read by the key ranges they
        cut, several queries in flight (iterate_key_ranges), twice the iterator's rate."""
        partitions = self.manual_partitions(name)
        if int_keys is not None and not self.lite and not filter and partitions == [None]:
            for rows in self.iterate_key_ranges(name, pk, fields, int_keys):
                yield None, rows
            return
        seen: set[Any] = set()
        for partition in partitions:
            for batch in self.iterate(name, fields, filter, batch_size, partition):
                rows = [row for row in batch if row[pk] not in seen]
                if partition is not None:
                    seen.update(row[pk] for row in rows)
                if rows:
                    yield partition, rows

    def flush(self, name: str) -> None:
        with self._errors("flush", name):
            self.client.flush(name)

    def ensure_scalar_index(self, name: str, field: str, kind: str) -> None:
        """An index on the label field, so `filter="cluster_id == 3"` stays fast. Not on
        a loaded collection of a server (a field of the user's that the labels went
        into, say): Milvus 2.3 takes the index, then refuses every later load ("can't
        change the index for loaded collection"), and releasing it would stop the
        application's searches. The filters work without one."""
        with self._errors("index the label field", name):
            if self.client.list_indexes(name, field_name=field):
                return
            if not self.lite and self.loaded(name):
                return
            params = self.client.prepare_index_params()
            params.add_index(field_name=field, index_type=kind, index_name=field)
            self.client.create_index(name, params)

    def query(self, name: str, filter: str, fields: Sequence[str], limit: int = 16_384) -> list:
        with self._errors("query", name):
            return list(
                self.client.query(
                    name,
                    filter=filter,
                    output_fields=list(fields),
                    limit=limit,
                    consistency_level=STRONG,
                    **ARRAYS,
                )
            )

    def values_by_key(
        self, name: str, pk: str, pk_type: str, field: str, keys: Sequence[Any]
    ) -> dict[Any, Any]:
        """`field` of the rows with these keys, by key (rows gone are missing); the keys
        go 1,000 to a filter expression."""
        found: dict[Any, Any] = {}
        for start in range(0, len(keys), 1_000):
            expression = key_filter(pk, pk_type, keys[start : start + 1_000])
            for row in self.query(name, expression, [pk, field]):
                found[row[pk]] = row.get(field)
        return found

    def keys(self, name: str, pk: str) -> list[Any]:
        """Every primary key of the collection."""
        return [row[pk] for batch in self.iterate(name, [pk]) for row in batch]

    def delete(self, name: str, filter: str) -> None:
        with self._errors("delete rows", name):
            self.client.delete(name, filter=filter)

    def create_collection(
        self,
        name: str,
        fields: Sequence[dict[str, Any]],
        indexes: Sequence[dict[str, Any]],
        auto_id: bool = False,
        dynamic: bool = False,
        properties: dict[str, str] | None = None,
    ) -> None:
        """A new collection, left loaded. `fields`: add_field arguments with the type by
        name ({"name": "id", "type": "INT64", "is_primary": True}); `indexes`: add_index
        arguments."""
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=auto_id, enable_dynamic_field=dynamic)
        for spec in fields:
            options = {k: v for k, v in spec.items() if k not in ("name", "type")}
            schema.add_field(spec["name"], getattr(DataType, spec["type"]), **options)
        index_params = self.client.prepare_index_params()
        for index in indexes:
            index_params.add_index(**index)
        with self._errors("create the collection", name):
            self.client.create_collection(
                name,
                schema=schema,
                index_params=index_params,
                properties=properties or {},
                consistency_level=STRONG,
            )

    def add_field(self, name: str, field: str, kind: str) -> None:
        """A nullable field added to a live collection (Milvus >= 2.6)."""
        from pymilvus import DataType

        with self._errors(f"add the field {field!r}", name):
            self.client.add_collection_field(name, field, getattr(DataType, kind), nullable=True)

    # -- copying and switching (the shadow strategy) ------------------------

    def create_like(
        self,
        source: str,
        target: str,
        extra_fields: Sequence[dict[str, Any]],
        properties: dict[str, str],
        scalar_indexes: Sequence[tuple[str, str]] = (),
        dynamic: bool = False,
    ) -> None:
        """Create `target` with `source`'s schema, functions, indexes, partitions and
        properties, plus `extra_fields` (add_field arguments, the type by name), the
        `scalar_indexes` ((field, index type) each) and, with `dynamic`, the dynamic field
        even where `source` has none. It is left loaded."""
        from pymilvus import CollectionSchema, DataType

        description = self._described(source)
        schema = CollectionSchema.construct_from_dict(description)
        if dynamic:
            schema.enable_dynamic_field = True
        for spec in extra_fields:
            options = {k: v for k, v in spec.items() if k not in ("name", "type")}
            schema.add_field(spec["name"], getattr(DataType, spec["type"]), **options)
        index_params = self.client.prepare_index_params()
        for index in self.indexes(source):
            index_params.add_index(**index_spec(index))
        for field, kind in scalar_indexes:
            index_params.add_index(field, kind, field)
        key_field = any(f.get("is_partition_key") for f in description["fields"])
        extra = {"num_partitions": description["num_partitions"]} if key_field else {}
        with self._errors("create the copy", target):
            self.client.create_collection(
                target,
                schema=schema,
                index_params=index_params,
                properties={**(description.get("properties") or {}), **properties},
                consistency_level=description.get("consistency_level_name", "Bounded"),
                num_shards=description.get("num_shards", 1),
                **extra,
            )
            if not key_field:
                for partition in self.partitions(source):
                    if partition != "_default":
                        self.client.create_partition(target, partition)

    def rename(self, old: str, new: str) -> None:
        with self._errors(f"rename the collection to {new!r}", old):
            self.client.rename_collection(old, new)

    def drop(self, name: str) -> None:
        with self._errors("drop the collection", name):
            self.client.drop_collection(name)

    def point_alias(self, alias: str, target: str) -> None:
        with self._errors(f"point alias {alias!r} at the collection", target):
            self.client.alter_alias(target, alias)

    def clear_properties(self, name: str, keys: Sequence[str]) -> None:
        """Empty our marker properties (Milvus 2.3 cannot drop a property; "" reads as unset)."""
        self.set_properties(name, {key: "" for key in keys})

    def drop_properties(self, name: str, keys: Sequence[str]) -> bool:
        """Remove properties; False where the server cannot (Milvus 2.3 has no such call)."""
        try:
            with self._errors("drop properties of the collection", name):
                self.client.drop_collection_properties(name, list(keys))
            return True
        except MilvusClusterError:
            return False

    def set_properties(self, name: str, properties: dict[str, str]) -> None:
        with self._errors("update the collection's properties", name):
            self.client.alter_collection_properties(name, properties=properties)

    # -- the periodic jobs: filtered search, the catalog -------------------

    def search_where(
        self,
        info: CollectionInfo,
        vectors: np.ndarray,
        limit: int,
        filter: str = "",
        output_field: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest rows of each query vector among the rows that pass `filter`, as flat
        arrays (query index, key, raw distance, value of `output_field` or None)."""
        params: dict[str, Any] = {"metric_type": info.metric}
        if info.index_type.upper() == "HNSW":
            params["params"] = {"ef": max(64, 2 * limit)}
        with self._errors("search", info.name):
            results = self.client.search(
                info.name,
                data=list(vectors),
                anns_field=info.vector_field,
                limit=limit,
                filter=filter,
                search_params=params,
                output_fields=[output_field] if output_field else [],
                consistency_level=STRONG,
            )
        counts = [len(hits) for hits in results]
        query_index = np.repeat(np.arange(len(counts)), counts)
        pks = np.concatenate([np.asarray(hits.ids) for hits in results]) if counts else np.zeros(0)
        raw = np.concatenate([np.asarray(hits.distances, np.float32) for hits in results])
        values = [
            hit["entity"].get(output_field) if output_field else None
            for hits in results
            for hit in hits
        ]
        return query_index, np.asarray(pks), raw, np.asarray(values, dtype=object)

    def create_plain(
        self, name: str, fields: Sequence[dict[str, Any]], vector_field: str, properties: dict
    ) -> None:
        """A small collection of our own, from plain field specs, with a FLAT L2 index on
        `vector_field` and `properties`. It is left loaded."""
        index = {"field_name": vector_field, "index_type": "FLAT", "metric_type": "L2"}
        self.create_collection(name, fields, [index], properties=properties)


def _escape_cursor(iterator: Any) -> None:
    """pymilvus (up to 3.0.2 at least) pages a query iterator with `pk > "<last key>"`
    without escaping the key, so a VARCHAR key holding a quote or a backslash breaks
    the read. Until it is fixed there, its cursor expression is built from an escaped
    key; an iterator without these internals is left as it is."""
    build = getattr(type(iterator), "_QueryIterator__setup_next_expr", None)
    if build is None or not hasattr(iterator, "_next_id"):
        return

    def escaped_cursor() -> str:
        last = iterator._next_id
        if not isinstance(last, str):
            return build(iterator)
        iterator._next_id = quoted(last)[1:-1]
        try:
            return build(iterator)
        finally:
            iterator._next_id = last

    iterator._QueryIterator__setup_next_expr = escaped_cursor


def quiet_logs(verbose: bool) -> None:
    """pymilvus logs every failed call with a traceback, and warnings of its own, on
    stderr; our one-line messages say what matters. Its import sets its log levels,
    so it is imported first."""
    pymilvus()
    for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)


class _NoTimestampWarning(logging.Filter):
    """pymilvus's query and search iterators warn "failed to get mvccTs from milvus
    server, use client-side ts instead" whenever the server gives them no timestamp
    (Milvus Lite, every read), and go on correctly with the client's time. Nothing for a
    user to act on, so it is dropped; everything else pymilvus logs passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


_ITERATOR_LOGGERS = (
    "pymilvus.client.iterator.query_iterator",
    "pymilvus.client.iterator.search_iterator",
)


def without_timestamp_warnings() -> None:
    """Drop pymilvus's timestamp warnings (_NoTimestampWarning) at the loggers that emit
    them: a filter on pymilvus's own loggers; no level, handler or root logger touched,
    so the application's logging stays as it configured it."""
    for name in _ITERATOR_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTimestampWarning) for f in logger.filters):
            logger.addFilter(_NoTimestampWarning())


def pymilvus() -> ModuleType:
    """pymilvus, imported. It parses MILVUS_URI as it is imported and refuses a Milvus
    Lite path there, which is what our --uri (and so MILVUS_URI) takes; such a value
    is hidden from it for that moment."""
    if "pymilvus" in sys.modules:
        return sys.modules["pymilvus"]
    uri = os.environ.get("MILVUS_URI", "")
    if not uri or not is_lite(uri):
        import pymilvus as module

        return module
    del os.environ["MILVUS_URI"]
    try:
        import pymilvus as module
    finally:
        os.environ["MILVUS_URI"] = uri
    return module
