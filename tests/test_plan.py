"""How the label field gets in: the plan, explained and refused (migration/plan.py, `plan`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import (
    FIELDS,
    create_table,
)

from milvus_cluster.cli import main
from milvus_cluster.errors import MigrationError
from milvus_cluster.migration.plan import LABEL_FIELDS, plan
from milvus_cluster.milvus.capabilities import capabilities_of
from milvus_cluster.milvus.describe import (
    CollectionInfo,
    FieldSpec,
)


def test_plan_explains_itself(client, uri, capabilities):
    table = create_table(client, n=100)
    result = CliRunner().invoke(main, ["plan", "-c", table.name, "--uri", uri])
    assert result.exit_code == 0, result.output
    assert f"server: {capabilities.version}" in result.output
    assert "partial upsert:" in result.output and "strategy shadow" in result.output
    assert "not add-field: this server cannot add a field" in result.output
    assert "not dynamic: the collection has no dynamic field" in result.output
    assert "_mc_backup" in result.output


def info(**changes) -> CollectionInfo:
    values = dict(
        name="docs", requested="docs", aliases=(), pk="id", pk_type="INT64", auto_id=False,
        vector_field="dense", dim=4, metric="L2", index_type="HNSW", fields=tuple(FIELDS[:2]),
        dynamic=False, rows=100, properties={},
    )  # fmt: skip
    return CollectionInfo(**(values | changes))


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
        "shadow"  # into a copy: the original keeps the user's values
    )
    ours = {LABEL_FIELDS: "cluster_id,cluster_prob"}
    again = plan(info(fields=labelled, properties=ours), lite, "cluster_id", "cluster_prob")
    assert again.strategy == "in-place" and again.prob_field is None
    assert "partial upsert" in again.describe()


def test_plan_refuses_a_label_field_of_another_type():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    with pytest.raises(MigrationError, match="VARCHAR"):
        plan(info(fields=tuple(FIELDS)), lite, "title", None)


def test_plan_on_servers_without_nullable_fields_copies_into_a_dynamic_field():
    """Milvus < 2.5: no nullable field, and a default value would crash 2.3.5 after the
    switch, so the copy declares nothing and keeps the labels as dynamic keys."""
    for version in ("v2.3.5", "v2.4.9"):
        old = plan(info(), capabilities_of(version, lite=False), "cluster_id", "cluster_prob")
        assert old.strategy == "shadow" and old.dynamic_copy and old.field_specs() == []
        assert "keys of its dynamic field" in old.describe()
        assert "an index on" not in old.describe()
    new = plan(info(), capabilities_of("v2.5.4", lite=False), "cluster_id", None)
    assert new.declared == "nullable" and not new.dynamic_copy
    assert new.field_specs() == [{"name": "cluster_id", "type": "INT64", "nullable": True}]


def test_a_server_probe_never_offers_default_values_before_2_5(capabilities):
    """The label fields of a copy get a default value only where that survives the
    switch: Milvus 2.3.5 takes the field, then panics at the first insert that omits it
    once the copy is renamed into place (issue 10). Decided by version, never probed."""
    expected = capabilities_of(capabilities.version, capabilities.lite)
    assert capabilities.default_value == expected.default_value


def test_a_field_of_the_users_gets_the_labels_in_a_copy():
    """`--overwrite-field`: the labels go into the user's own field in a copy, so that
    the original keeps its values (rollback restores them)."""
    theirs = (*FIELDS[:2], FieldSpec("cluster_id", "INT64"))
    for version, lite in (("milvus_lite-3.2.2", True), ("v2.3.5", False)):
        made = plan(info(fields=theirs), capabilities_of(version, lite), "cluster_id",
                    "cluster_prob", overwrite=True)  # fmt: skip
        assert made.strategy == "shadow" and made.overwritten == ("cluster_id",)
        assert "cluster_id" not in [spec["name"] for spec in made.field_specs()]
        assert not made.label_index and "rollback" in made.describe()
