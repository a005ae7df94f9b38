"""Small pure pieces: reading batches, fingerprints, expressions, plans, capabilities."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import DataType

from milvus_cluster.core.fingerprint import Fingerprinter
from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.core.vectors import check_complete, collect_vectors
from milvus_cluster.errors import CollectionError, MigrationError
from milvus_cluster.migration.plan import LABEL_FIELDS, plan
from milvus_cluster.migration.write import LabelColumns
from milvus_cluster.milvus.capabilities import capabilities_of
from milvus_cluster.milvus.describe import (
    CollectionInfo,
    FieldSpec,
    choose_vector_field,
    index_spec,
)
from milvus_cluster.milvus.expressions import key_filter, quoted

FIELDS = [
    FieldSpec.of({"name": "id", "type": DataType.INT64, "is_primary": True}),
    FieldSpec.of({"name": "dense", "type": DataType.FLOAT_VECTOR, "params": {"dim": 4}}),
    FieldSpec.of({"name": "bits", "type": DataType.BINARY_VECTOR, "params": {"dim": 32}}),
    FieldSpec.of({"name": "title", "type": DataType.VARCHAR, "params": {"max_length": 9}}),
]


def info(**changes) -> CollectionInfo:
    values = dict(
        name="docs", requested="docs", aliases=(), pk="id", pk_type="INT64", auto_id=False,
        vector_field="dense", dim=4, metric="L2", index_type="HNSW", fields=tuple(FIELDS[:2]),
        dynamic=False, rows=100, properties={},
    )  # fmt: skip
    return CollectionInfo(**(values | changes))


def test_reading_drops_repeated_rows_and_grows_past_the_count():
    batches = [
        [{"id": 1, "v": [1.0, 0.0]}, {"id": 2, "v": [0.0, 1.0]}],
        [{"id": 2, "v": [0.0, 1.0]}, {"id": 3, "v": [1.0, 1.0]}],
    ]
    read = collect_vectors(iter(batches), "id", "v", 2, expected_rows=1)
    assert read.pks.tolist() == [1, 2, 3]
    assert read.vectors.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def test_reading_refuses_vectors_of_the_wrong_width():
    with pytest.raises(CollectionError, match="3 dimensions"):
        collect_vectors(iter([[{"id": 1, "v": [1.0, 0.0]}]]), "id", "v", 3, expected_rows=1)


def test_a_read_that_lost_rows_is_refused():
    check_complete(10, 10, 12)
    check_complete(12, 10, 12)
    with pytest.raises(CollectionError, match="lost rows"):
        check_complete(9, 10, 10)


def test_fingerprint_ignores_order_and_labels_but_sees_every_change():
    rows = [{"id": i, "v": [0.5 * i, 1.0], "t": f"x{i}", "cluster_id": i} for i in range(5)]

    def of(batch, leave_out=("cluster_id",)):
        printer = Fingerprinter(leave_out)
        printer.add(batch)
        return printer.result()

    assert of(rows) == of(list(reversed(rows)))
    assert of(rows) == of([r | {"cluster_id": 99} for r in rows])
    assert of(rows) != of(rows[:4])
    assert of(rows) != of(rows + rows[:1])
    assert of(rows) != of(rows[:4] + [rows[4] | {"v": [2.0, 1.0000001]}])
    assert of(rows) != of(rows[:4] + [rows[4] | {"t": "y"}])


def test_filter_expressions_quote_and_escape_keys():
    assert quoted('a"b\\c') == '"a\\"b\\\\c"'
    assert key_filter("id", "INT64", [0, -5]) == "id in [0, -5]"
    assert key_filter("pk", "VARCHAR", ['x"', "\\"]) == 'pk in ["x\\"", "\\\\"]'


def test_vector_field_choice():
    assert choose_vector_field(FIELDS, None, "docs").name == "dense"
    with pytest.raises(CollectionError, match="BINARY_VECTOR"):
        choose_vector_field(FIELDS, "bits", "docs")
    with pytest.raises(CollectionError, match="no FLOAT_VECTOR field.*bits"):
        choose_vector_field([FIELDS[0], FIELDS[2]], None, "docs")


def test_capabilities_by_version():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    assert lite.partial_upsert and lite.nullable and not lite.add_field
    old = capabilities_of("v2.3.5", lite=False)
    assert not old.nullable and not old.partial_upsert and old.scalar_index == "STL_SORT"
    new = capabilities_of("v2.6.4", lite=False)
    assert new.add_field and new.partial_upsert and new.nullable
    assert not capabilities_of("2.6.1", lite=False).partial_upsert


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


def test_plan_by_name_by_alias_and_in_place():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    by_name = plan(info(aliases=("a",)), lite, "cluster_id", "cluster_prob")
    assert by_name.strategy == "shadow" and by_name.swap_names
    assert by_name.backup == "docs_mc_backup" and by_name.aliases == ("a",)
    by_alias = plan(info(requested="a", aliases=("a",)), lite, "cluster_id", None)
    assert not by_alias.swap_names and by_alias.backup == "docs"
    assert "point alias 'a' at 'docs_mc_shadow'" in by_alias.describe()
    labelled = (*FIELDS[:2], FieldSpec("cluster_id", "INT64"))
    with pytest.raises(MigrationError, match="did not make.*--overwrite-field"):
        plan(info(fields=labelled), lite, "cluster_id", "cluster_prob")  # the user's field
    assert plan(info(fields=labelled), lite, "cluster_id", None, overwrite=True).strategy == (
        "in-place"
    )
    ours = {LABEL_FIELDS: "cluster_id,cluster_prob"}
    again = plan(info(fields=labelled, properties=ours), lite, "cluster_id", "cluster_prob")
    assert again.strategy == "in-place" and again.prob_field is None
    assert "partial upsert" in again.describe()


def test_plan_refuses_a_label_field_of_another_type_and_servers_without_nullable():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    with pytest.raises(MigrationError, match="VARCHAR"):
        plan(info(fields=tuple(FIELDS)), lite, "title", None)
    with pytest.raises(MigrationError, match="nullable"):
        plan(info(), capabilities_of("v2.3.5", lite=False), "cluster_id", None)


def test_label_columns_give_null_for_rows_not_clustered():
    columns = LabelColumns(KeyIndex(np.array([10, -3])), np.array([1, -1]),
                           np.array([0.5, 0.0], dtype=np.float32))  # fmt: skip
    assert columns.values([-3, 10, 7]) == ([-1, 1, None], [0.0, 0.5, None])
