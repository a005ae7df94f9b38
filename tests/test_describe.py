"""Choosing fields and rebuilding indexes from a collection's description (milvus/describe.py)."""

from __future__ import annotations

import pytest
from helpers import FIELDS

from milvus_cluster.errors import CollectionError
from milvus_cluster.milvus.describe import (
    FieldSpec,
    choose_text_field,
    choose_vector_field,
    index_spec,
)


def test_vector_field_choice():
    assert choose_vector_field(FIELDS, None, "docs").name == "dense"
    with pytest.raises(CollectionError, match="BINARY_VECTOR"):
        choose_vector_field(FIELDS, "bits", "docs")
    with pytest.raises(CollectionError, match="no FLOAT_VECTOR field.*bits"):
        choose_vector_field([FIELDS[0], FIELDS[2]], None, "docs")


def test_index_rebuilt_from_its_description():
    server = index_spec({"field_name": "v", "index_name": "v_idx", "index_type": "HNSW",
                          "metric_type": "COSINE", "M": "16", "efConstruction": "200",
                          "total_rows": 5, "state": "Finished"})  # fmt: skip
    assert server["params"] == {"M": "16", "efConstruction": "200"}
    assert server["index_name"] == "v_idx" and server["metric_type"] == "COSINE"
    lite = index_spec({"field_name": "v", "index_type": "HNSW", "metric_type": "L2",
                       "params": {"M": 8}})  # fmt: skip
    assert lite["params"] == {"params": {"M": 8}}
    assert "metric_type" not in index_spec({"field_name": "t", "index_type": "INVERTED",
                                             "metric_type": "NONE"})  # fmt: skip


def test_text_field_choice():
    fields = [
        FieldSpec("id", "VARCHAR", is_primary=True),
        FieldSpec("url", "VARCHAR", params={"max_length": 100}),
        FieldSpec("summary", "VARCHAR", params={"max_length": 2000}),
        FieldSpec("n", "INT64"),
    ]
    assert choose_text_field(fields, {}, None, "c") == "summary"  # the widest
    assert choose_text_field(fields, {"milvus_cluster.text_field": "url"}, None, "c") == "url"
    with_content = [*fields, FieldSpec("content", "VARCHAR")]
    assert choose_text_field(with_content, {}, None, "c") == "content"
    assert choose_text_field(fields, {}, "", "c") is None
    assert choose_text_field(fields[:1], {}, None, "c") is None
    with pytest.raises(CollectionError, match="--text-field"):
        choose_text_field(fields, {}, "n", "c")
