"""label_collection: connect, inspect, read, knn, cluster, keywords, write — in that order
(the stages before the write are labelling.py's).

`preview` stops before the write: the same read, graph, clustering, stable ids and
keywords, and nothing written (no field, no copy, no catalog, no lock, no ids spent).
With a sample (Parameters.sample), the read, kNN and clustering stages run on the
sample and the other rows are labelled by their nearest sampled rows (commands/sample.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.labelling import LabelResult, Target, cluster_rows, result_of
from milvus_cluster.commands.sample import label_sampled
from milvus_cluster.commands.stages import Clock, StageProgress
from milvus_cluster.core.clustering import check_parameters
from milvus_cluster.core.evoc import require_evoc
from milvus_cluster.core.parameters import EVOC_ENGINES, Parameters
from milvus_cluster.core.reduce import require_umap
from milvus_cluster.core.sample import parse_sample, sample_size
from milvus_cluster.core.stable_ids import DriftGuard, check_drift
from milvus_cluster.errors import CollectionError, ParameterError
from milvus_cluster.jobs.catalog import Catalog, catalog_name
from milvus_cluster.jobs.lock import LOCK_TTL
from milvus_cluster.jobs.run import Job, parameters_of, run_job
from milvus_cluster.jobs.sampling import supersede
from milvus_cluster.migration.apply import apply
from milvus_cluster.migration.plan import Requested, layer_field_names, plan
from milvus_cluster.migration.shadow import finish_switch
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import EMBEDDED_BY_PROPERTY, CollectionInfo, choose_text_field

__all__ = ["LabelResult", "label_collection"]


def label_collection(
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    vector_field: str | None = None,
    label_field: str = "cluster_id",
    prob_field: str | None = "cluster_prob",
    parameters: Parameters = Parameters(),
    strategy: Requested = "auto",
    overwrite_field: bool = False,
    dry_run: bool = False,
    preview: bool = False,
    text_field: str | None = None,
    progress: StageProgress | None = None,
    relabel: DriftGuard | None = None,
    lock_ttl: float = LOCK_TTL,
    sample_only: bool = False,
    layer_fields: Sequence[str] | None = None,
) -> LabelResult:
    """Cluster `collection` with HDBSCAN on its kNN graph and write the labels into it.

    `strategy` chooses how the label field gets in (see
    migration/plan.py); `overwrite_field` lets labels overwrite a field of that name that
    milvus-cluster did not make (its values are lost); `dry_run` returns the plan
    without reading or writing anything; `preview` clusters and returns what a run
    would write, writing nothing. `text_field` names the clusters by c-TF-IDF keywords
    (None: the one ingest recorded, else the usual names, else the widest VARCHAR;
    '' for none), from the texts read with the vectors.
    Under the collection's lock, recorded in its catalog. Where rows have labels
    already, clusters keep their ids (core/stable_ids.py) and the drift is reported;
    `relabel` (a DriftGuard) requires such labels and refuses too much drift.
    `parameters.sample` clusters a sample and labels the other rows by their nearest
    sampled rows (commands/sample.py); `sample_only` stops after the sample, leaving
    the other rows to `assign --shard I/N` (or to `assign`). `parameters.layers` writes
    that many fields of the coarser layers (core/layers.py), named `layer_fields` (None:
    the names the collection records, else `<label_field>_1`, `_2`, …); the layers are
    computed and kept in the catalog on every run."""
    params = replace(parameters.resolved(), sample=parse_sample(parameters.sample))
    clock = Clock(progress)
    with connect(uri, token, db_name) as milvus:
        with clock.timed("inspect"):
            if not preview:  # it finishes an interrupted switch: a write
                finish_switch(milvus, collection)
            milvus.inspect(collection, vector_field)  # refuse what cannot be clustered first
        with milvus.loaded_for_run(collection):  # counting rows needs a loaded collection
            with clock.timed("inspect"):
                info = milvus.inspect(collection, vector_field, count=True)
                capabilities = milvus.capabilities()
                labelled_before = milvus.has(catalog_name(info.requested))
                overwrite = overwrite_field or labelled_before
                layers = layer_field_names(info, label_field, params.layers, layer_fields)
                params = replace(params, layers=len(layers))
                the_plan = plan(
                    info, capabilities, label_field, prob_field, strategy, overwrite, layers
                )
                text = choose_text_field(info.fields, info.properties, text_field, info.requested)
                target = Target(info, capabilities, the_plan, text)
                params = replace(
                    parameters.for_collection(info.metric, embeds_texts(info)),
                    sample=params.sample,
                )
                check_parameters(
                    info.rows, params.k or 0, params.min_cluster_size, params.min_samples or 0
                )
                size = sample_size(params.sample, info.rows, params.min_cluster_size, params.k or 0)
                if params.layers and size is not None:
                    raise ParameterError(
                        "--layers does not work with --sample yet (nor does --sample on a "
                        "collection with layer fields): label without --sample, or without "
                        "--layers (the layers are kept in the catalog either way)."
                    )
                if sample_only and size is None:
                    raise ParameterError(
                        f"--sample-only needs a sample smaller than the collection "
                        f"({info.rows} rows); give --sample N with N below that."
                    )
                if params.reduce is not None:
                    require_umap()
                if params.engine in EVOC_ENGINES:
                    require_evoc()
            if relabel is not None and not the_plan.has_labels:
                raise CollectionError(
                    f"{info.requested!r} has no {label_field!r} labels yet, so there is nothing "
                    f"to relabel; label it first: {milvus.hint(f'label -c {info.requested}')}"
                )
            if dry_run:
                return result_of(target, params, clock, dry_run=True)
            if preview:  # the catalog only read (its id ledger), when there is one
                catalog = Catalog.open(milvus, info.requested) if labelled_before else None
                done = cluster_rows(milvus, target, params, clock, catalog)
                return result_of(target, params, clock, done, preview=True)
            command = "relabel" if relabel is not None else "label"
            with run_job(milvus, info, command, parameters_of(params), lock_ttl) as job:
                if size is None:
                    result = _run(milvus, target, params, clock, job, relabel)
                else:
                    result = label_sampled(
                        milvus, target, params, size, clock, job, relabel, sample_only
                    )
                job.finish(result.counts(), clock.seconds)
                return result


def embeds_texts(info: CollectionInfo) -> bool:
    """Whether the collection's vectors are embeddings of texts, as far as we can know:
    `ingest` embedded them with a model and recorded it (EMBEDDED_BY_PROPERTY). A
    VARCHAR field beside the vectors proves nothing (a title beside an image
    embedding), and neither does ingest's text field when the vectors came from a
    column; `--engine evoc-knn` says so for any other collection."""
    return bool(info.properties.get(EMBEDDED_BY_PROPERTY))


def _run(
    milvus: Milvus,
    target: Target,
    params: Parameters,
    clock: Clock,
    job: Job,
    relabel: DriftGuard | None,
) -> LabelResult:
    """Cluster, then write: labels onto the rows, clusters and keywords into the catalog."""
    done = cluster_rows(milvus, target, params, clock, job.catalog)
    check_drift(done.settled.drift, relabel)
    with clock.stage("write", len(done.columns.labels)) as advance:
        job.check()
        # fresh ids are spent before a row has one
        job.catalog.save_ledger(done.settled.ledger, done.settled.hierarchy.ledgers)
        index_kind = target.capabilities.scalar_index
        apply(milvus, target.info, target.plan, done.columns, index_kind, job.checked(advance))
        job.catalog.replace_clusters(done.cluster_entries(job.run_id))
        job.catalog.replace_layers(done.layer_entries(job.run_id))
        supersede(job.catalog)
    return result_of(target, params, clock, done, job=job)
