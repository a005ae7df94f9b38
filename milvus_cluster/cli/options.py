"""Options that several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from milvus_cluster.errors import MilvusClusterError

if TYPE_CHECKING:
    from milvus_cluster.core.reduce import Reduction

Decorator = Callable[[Callable], Callable]


def _all(*options: Decorator) -> Decorator:
    """One decorator from several, applied in the order given (as --help lists them)."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


connection_options = _all(
    click.option(
        "--uri",
        envvar="MILVUS_URI",
        default="./milvus.db",
        show_default=True,
        help="Milvus URL, or a Milvus Lite file ending in .db. Env: MILVUS_URI.",
    ),
    click.option(
        "--token",
        envvar="MILVUS_TOKEN",
        default="",
        show_default=False,
        help="Token or user:password. Env: MILVUS_TOKEN. Never printed.",
    ),
    click.option(
        "--db-name",
        envvar="MILVUS_DB_NAME",
        default="",
        help="Database (default: the server's default). Env: MILVUS_DB_NAME.",
    ),
    click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else."
    ),
    click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors."),
)
"""--uri, --token, --db-name (with MILVUS_* environment variables), --json, -v."""

LAST_RUN = "[default: the last label's or relabel's]"


def knn_choice(defaults: bool = True) -> Decorator:
    return click.option(
        "--knn",
        type=click.Choice(["auto", "milvus", "local"]),
        default="auto" if defaults else None,
        show_default=defaults,
        help="Build the graph with Milvus search, or locally (faiss) over the vectors read; "
        "auto: local (measured faster and closer to exact, README Scale)."
        + ("" if defaults else f" {LAST_RUN}"),
    )


knn_option = knn_choice()


def clustering_choices(defaults: bool = True) -> Decorator:
    """--min-cluster-size, --min-samples, --k, --knn, --cluster-selection; without
    `defaults` (relabel: the last run's values are the defaults) each is None unless given."""
    last = "" if defaults else f" {LAST_RUN}"
    return _all(
        click.option(
            "--min-cluster-size",
            default=10 if defaults else None,
            show_default=defaults,
            type=click.IntRange(2),
            help="Smallest group of rows that counts as a cluster." + last,
        ),
        click.option(
            "--min-samples",
            type=click.IntRange(1),
            default=None,
            help="Density smoothing: neighbours that make a row a core row "
            + ("[default: min(min-cluster-size, 16)]." if defaults else LAST_RUN),
        ),
        click.option(
            "--k",
            type=click.IntRange(1, 1024),
            default=None,
            help="Neighbours per row in the kNN graph "
            + ("[default: max(2·min-samples, 16)]." if defaults else LAST_RUN),
        ),
        knn_choice(defaults),
        click.option(
            "--cluster-selection",
            type=click.Choice(["eom", "leaf"]),
            default="eom" if defaults else None,
            show_default=defaults,
            help="HDBSCAN's cluster selection method." + last,
        ),
        click.option(
            "--engine",
            type=click.Choice(["auto", "hdbscan", "evoc", "evoc-knn"]),
            default="auto" if defaults else None,
            show_default=defaults,
            help="hdbscan: HDBSCAN on the kNN graph; evoc: EVoC on the vectors (COSINE/IP); "
            "evoc-knn: EVoC, then its borders voted on by --k (60) exact neighbours (noise "
            "joins at 90 %, a member moves at 70 %); "
            "auto: evoc-knn for texts that `ingest` embedded, hdbscan otherwise (README)." + last,
        ),
    )


def noise_choice(defaults: bool = True) -> Decorator:
    return click.option(
        "--noise",
        type=click.Choice(["keep", "assign"]),
        default="keep" if defaults else None,
        show_default=defaults,
        help="assign: noise rows close enough to a cluster join it (cluster_prob 0)."
        + ("" if defaults else f" {LAST_RUN}"),
    )


clustering_options = clustering_choices()
noise_option = noise_choice()

label_field_option = click.option(
    "--label-field",
    default="cluster_id",
    show_default=True,
    help="INT64 field with the cluster id (-1 = noise).",
)
text_field_option = click.option(
    "--text-field",
    default=None,
    help="VARCHAR field with the rows' texts [default: the one ingest recorded, else "
    "text/content/…, else the widest]; '' for none.",
)
vector_field_option = click.option("--vector-field", default=None, help="Vector field, if several.")
prob_field_option = click.option(
    "--prob-field",
    default="cluster_prob",
    show_default=True,
    help="FLOAT field for the membership probability; '' for none.",
)

job_options = _all(
    click.option(
        "-c",
        "--collection",
        required=True,
        help="Collection (or alias); jobs on it must use the same name.",
    ),
    vector_field_option,
    label_field_option,
    prob_field_option,
)
"""-c, --vector-field, --label-field, --prob-field: label, assign, relabel."""

target_options = _all(
    job_options,
    click.option(
        "--strategy",
        type=click.Choice(["auto", "add-field", "dynamic", "shadow"]),
        default="auto",
        show_default=True,
        help="How the label field gets into the collection (see `plan`).",
    ),
    click.option(
        "--overwrite-field",
        is_flag=True,
        help="Write the labels over an existing --label-field/--prob-field that "
        "milvus-cluster did not make (its values are lost).",
    ),
)
"""The collection, its fields, and how its label fields get in."""


def _reduction(context: click.Context, parameter: click.Parameter, value: str) -> Reduction | None:
    from milvus_cluster.core.reduce import parse_reduction

    try:
        return parse_reduction(value)
    except MilvusClusterError as error:
        raise click.BadParameter(str(error)) from None


reduce_option = click.option(
    "--reduce",
    "reduction",
    default="none",
    show_default=True,
    callback=_reduction,
    metavar="none|umap[:DIM]",
    help="Topic-model mode: cluster in a UMAP embedding of DIM dimensions (default 5) built "
    "from the kNN graph; recommended for text (see README).",
)


sample_options = _all(
    click.option(
        "--sample",
        default=None,
        metavar="N|auto",
        help="Cluster N rows picked at random (seeded) and label the others by their "
        "nearest sampled rows; auto: every row up to 200,000, a 100,000-row sample above.",
    ),
    click.option(
        "--seed",
        default=0,
        show_default=True,
        type=int,
        help="Which rows --sample picks (the same seed, the same rows).",
    ),
    click.option(
        "--sample-only",
        is_flag=True,
        help="With --sample: cluster the sample and stop; `assign --shard I/N` processes "
        "label the other rows.",
    ),
)
"""label's sample mode."""


def _names(context: click.Context, parameter: click.Parameter, value: str | None):
    return None if value is None else tuple(name.strip() for name in value.split(",") if name)


def layer_choices(defaults: bool = True) -> Decorator:
    """--layers, --layer-fields: the coarser layers' label fields (label, relabel)."""
    return _all(
        click.option(
            "--layers",
            type=click.IntRange(0, 8),
            default=None,
            help="Also write this many fields of coarser and coarser clusters (topics, "
            "super-topics…), named after --label-field: cluster_id_1, cluster_id_2, … "
            + ("[default: 0, or as many as --layer-fields names]." if defaults else LAST_RUN),
        ),
        click.option(
            "--layer-fields",
            default=None,
            callback=_names,
            metavar="A,B,…",
            help="Names of the layer fields, layer 1 first [default: <label-field>_1, …].",
        ),
    )


def collection_option(help: str) -> Decorator:
    return click.option("-c", "--collection", required=True, help=help)
