"""The one door to Milvus: connecting, describing, reading, searching, writing.

Only this module (and `copy.py`, its half for copying collections) holds a
`MilvusClient`. Everything it hands out is a plain value (dicts, numpy arrays,
frozen dataclasses), and every pymilvus or gRPC error leaves it as one of ours
with a message for people, never as `<MilvusException: (code=…)>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .capabilities import Capabilities
from .errors import CollectionError, ConnectionFailed, MilvusClusterError
from .fields import choose_vector_field, index_spec, metric_of, quoted, type_name
from .knn import Metric

READ_BATCH = 10_000  # query_iterator: ~7k rows/s at 10,000 a batch on Lite, ~180 at 10
WRITE_BATCH = 2_000
# Reads must see every write acknowledged before them: a server's default (Bounded)
# counts 0 rows right after an insert.
STRONG = "Strong"


@dataclass(frozen=True)
class CollectionInfo:
    """What the pipeline needs to know about a collection, read once."""

    name: str  # the collection itself (resolved when reached through an alias)
    requested: str  # the name or alias the user gave
    aliases: tuple[str, ...]  # every alias pointing at it
    pk: str
    pk_type: str  # "INT64" or "VARCHAR"
    auto_id: bool
    vector_field: str
    dim: int
    metric: Metric
    index_type: str
    fields: tuple[str, ...]  # every schema field, in order
    dynamic: bool
    rows: int
    properties: dict[str, str]

    @property
    def via_alias(self) -> bool:
        return self.requested != self.name


def is_lite(uri: str) -> bool:
    """A local path (not a URL) is an embedded Milvus Lite database file."""
    return "://" not in uri


def redact(uri: str) -> str:
    """The URI without credentials, fit to print."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


_PROBED: dict[tuple[str, str], Capabilities] = {}


class Milvus:
    """A connected MilvusClient and the few facts about its server we rely on."""

    def __init__(self, client: Any, uri: str, db_name: str) -> None:
        self.client = client
        self.uri = uri
        self.db_name = db_name or "default"
        self.lite = is_lite(uri)

    @classmethod
    def connect(cls, uri: str, token: str = "", db_name: str = "", timeout: float = 30) -> Milvus:
        from pymilvus import MilvusClient

        if is_lite(uri):
            _check_lite_path(uri)
        try:
            client = MilvusClient(uri=uri, token=token, db_name=db_name, timeout=timeout)
            client.list_collections()  # a wrong database only shows at the first call
        except Exception as error:  # pymilvus raises several kinds here
            raise _connect_error(error, uri, db_name) from error
        return cls(client, uri, db_name)

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _errors(self, action: str, name: str = "") -> Iterator[None]:
        """Turn what pymilvus and gRPC raise into our errors, with a message for people."""
        try:
            yield
        except MilvusClusterError:
            raise
        except Exception as error:
            raise _translated(error, action, name, self) from error

    # -- describing --------------------------------------------------------

    def has(self, name: str) -> bool:
        with self._errors("check for a collection", name):
            return bool(self.client.has_collection(name))

    def describe(self, name: str) -> dict[str, Any]:
        with self._errors("describe the collection", name):
            return self.client.describe_collection(name)

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
            return list(self.describe(name).get("aliases") or [])

    def partitions(self, name: str) -> list[str]:
        with self._errors("list partitions", name):
            return list(self.client.list_partitions(name))

    def count(self, name: str, filter: str = "") -> int:
        with self._errors("count rows", name):
            rows = self.client.query(name, filter=filter, output_fields=["count(*)"],
                                     consistency_level=STRONG)  # fmt: skip
            return int(rows[0]["count(*)"])

    def loaded(self, name: str) -> bool:
        with self._errors("check the load state", name):
            state = self.client.get_load_state(name).get("state")
            return str(state).endswith("Loaded") and "NotLoad" not in str(state)

    def load(self, name: str) -> None:
        with self._errors("load the collection", name):
            self.client.load_collection(name)

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
        """Probed once per server and process (see capabilities.probe)."""
        from .capabilities import probe

        key = (redact(self.uri), self.db_name)
        if key not in _PROBED:
            _PROBED[key] = probe(self)
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
        real = description["collection_name"]
        fields = description["fields"]
        field = choose_vector_field(fields, vector_field, real)
        pk = next(f for f in fields if f.get("is_primary"))
        index = next((i for i in self.indexes(real) if i.get("field_name") == field["name"]), None)
        if index is None:
            raise CollectionError(
                f"Vector field {field['name']!r} of {real!r} has no index, so Milvus cannot "
                "search it; create one (e.g. HNSW or AUTOINDEX) and run again."
            )
        return CollectionInfo(
            name=real,
            requested=name,
            aliases=tuple(self.aliases(real)),
            pk=pk["name"],
            pk_type=type_name(pk["type"]),
            auto_id=bool(description.get("auto_id") or pk.get("auto_id")),
            vector_field=field["name"],
            dim=int(field["params"]["dim"]),
            metric=metric_of(index, field["name"]),
            index_type=str(index.get("index_type", "")),
            fields=tuple(f["name"] for f in fields),
            dynamic=bool(description.get("enable_dynamic_field")),
            rows=self.count(real) if count else -1,
            properties=dict(description.get("properties") or {}),
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

    def search(
        self, info: CollectionInfo, vectors: np.ndarray, limit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest rows of each query vector, as flat arrays (query index, key, raw distance)."""
        params: dict[str, Any] = {"metric_type": info.metric}
        if info.index_type.upper() == "HNSW":
            params["params"] = {"ef": max(64, 2 * limit)}
        with self._errors("search", info.name):
            results = self.client.search(
                info.name,
                data=list(vectors),
                anns_field=info.vector_field,
                limit=limit,
                search_params=params,
                output_fields=[],
                consistency_level=STRONG,
            )
        counts = [len(hits) for hits in results]
        query_index = np.repeat(np.arange(len(counts)), counts)
        pks = np.concatenate([np.asarray(hits.ids) for hits in results]) if counts else []
        raw = np.concatenate([np.asarray(hits.distances, np.float32) for hits in results])
        return query_index, np.asarray(pks), raw

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
        fields = self.describe(name)["fields"]
        partitions = self.partitions(name)
        if any(f.get("is_partition_key") for f in fields) or partitions == ["_default"]:
            return [None]
        return sorted(partitions, key=lambda p: p == "_default")

    def iterate_by_partition(
        self,
        name: str,
        pk: str,
        fields: Sequence[str],
        filter: str = "",
        batch_size: int = READ_BATCH,
    ) -> Iterator[tuple[str | None, list[dict[str, Any]]]]:
        """(partition, rows) for every row once, with the partition it lives in (None when
        partitions do not matter). Milvus Lite 3.2.2 returns every row when asked for
        _default alone, so _default comes last and rows seen before are skipped."""
        seen: set[Any] = set()
        for partition in self.manual_partitions(name):
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
        """An index on the label field, so `filter="cluster_id == 3"` stays fast."""
        with self._errors("index the label field", name):
            if self.client.list_indexes(name, field_name=field):
                return
            params = self.client.prepare_index_params()
            params.add_index(field_name=field, index_type=kind, index_name=field)
            self.client.create_index(name, params)

    def query(self, name: str, filter: str, fields: Sequence[str], limit: int = 16_384) -> list:
        with self._errors("query", name):
            return list(self.client.query(name, filter=filter, output_fields=list(fields),
                                          limit=limit, consistency_level=STRONG))  # fmt: skip

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
            self.client.create_collection(name, schema=schema, index_params=index_params,
                                          properties=properties or {})  # fmt: skip

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
        scalar_index: tuple[str, str] | None = None,
    ) -> None:
        """Create `target` with `source`'s schema, functions, indexes, partitions and
        properties, plus `extra_fields` (add_field arguments, the type by name) and a
        `scalar_index` ((field, index type)). It is left loaded."""
        from pymilvus import CollectionSchema, DataType

        description = self.describe(source)
        schema = CollectionSchema.construct_from_dict(description)
        for spec in extra_fields:
            options = {k: v for k, v in spec.items() if k not in ("name", "type")}
            schema.add_field(spec["name"], getattr(DataType, spec["type"]), **options)
        index_params = self.client.prepare_index_params()
        for index in self.indexes(source):
            index_params.add_index(**index_spec(index))
        if scalar_index:
            index_params.add_index(scalar_index[0], scalar_index[1], scalar_index[0])
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

    def function_outputs(self, name: str) -> set[str]:
        """Fields that Milvus computes (BM25 and other functions): never written."""
        functions = self.describe(name).get("functions") or []
        return {out for f in functions for out in f.get("output_field_names", [])}

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

    def set_properties(self, name: str, properties: dict[str, str]) -> None:
        with self._errors("update the collection's properties", name):
            self.client.alter_collection_properties(name, properties=properties)


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


def _check_lite_path(uri: str) -> None:
    path = Path(uri).expanduser()
    if not path.name.endswith(".db"):
        raise ConnectionFailed(
            f"--uri {uri!r} is neither a Milvus Lite file ending in .db nor a URL like "
            "http://host:19530; check --uri or MILVUS_URI."
        )
    if not path.parent.is_dir():
        raise ConnectionFailed(
            f"The folder of the Milvus Lite file {uri!r} does not exist; create it or check --uri."
        )


def _message(error: Exception) -> str:
    """pymilvus's own text, without its `<MilvusException: (code=…)>` wrapping."""
    text = getattr(error, "message", "")
    if not text and callable(getattr(error, "details", None)):
        text = error.details()  # a raw gRPC error
    text = str(text or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _connect_error(error: Exception, uri: str, db_name: str) -> MilvusClusterError:
    text = _message(error).lower()
    if "database" in text and ("not found" in text or "not exist" in text):
        return ConnectionFailed(
            f"Database {db_name!r} does not exist at {redact(uri)}; check --db-name."
        )
    if _is_auth(text):
        return ConnectionFailed(
            f"Milvus at {redact(uri)} refused the credentials; check --token or MILVUS_TOKEN."
        )
    if is_lite(uri) and _held_elsewhere(uri):
        return ConnectionFailed(
            f"The Milvus Lite file {uri!r} is held open by another process (Milvus Lite keeps "
            "its file for as long as the process that opened it runs); stop that process or "
            "use another file."
        )
    if is_lite(uri):
        return ConnectionFailed(f"Milvus Lite could not open {uri!r}: {_message(error)}")
    if _answers(uri):
        return ConnectionFailed(
            f"Milvus at {redact(uri)} answers but refused the connection; check --token (or "
            "MILVUS_TOKEN) and --db-name."
        )
    return ConnectionFailed(
        f"Cannot reach Milvus at {redact(uri)}; check --uri (or MILVUS_URI) and that the "
        "server is running."
    )


def _answers(uri: str) -> bool:
    """Whether something listens at the URI's host and port. pymilvus reports a refused
    token exactly as an unreachable server; this tells the two apart."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 19530)
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=3):
            return True
    except (OSError, ValueError):
        return False


def _held_elsewhere(uri: str) -> bool:
    """Whether another process holds the Milvus Lite file's lock. Milvus Lite logs the
    reason and raises only "Open local milvus failed", so we look ourselves."""
    import fcntl

    lock = Path(uri).expanduser() / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _is_auth(text: str) -> bool:
    return any(w in text for w in ("auth", "credential", "token", "password", "permission"))


def _translated(error: Exception, action: str, name: str, milvus: Milvus) -> MilvusClusterError:
    text = _message(error)
    lower = text.lower()
    where = f" {name!r}" if name else ""
    if "collection" in lower and any(
        w in lower for w in ("not found", "does not exist", "can't find")
    ):
        return CollectionError(
            f"Collection{where} does not exist in database {milvus.db_name!r}; check -c."
        )
    if _is_auth(lower):
        return ConnectionFailed(
            f"Milvus at {redact(milvus.uri)} refused the credentials; check --token or "
            "MILVUS_TOKEN."
        )
    if any(w in lower for w in ("unavailable", "connect", "deadline", "closed channel")):
        return ConnectionFailed(
            f"Lost Milvus at {redact(milvus.uri)} while trying to {action}; check that the "
            "server is running and run the command again (it finishes the job)."
        )
    return MilvusClusterError(f"Milvus refused to {action}{where}: {text}")
