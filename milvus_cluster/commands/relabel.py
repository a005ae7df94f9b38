"""relabel: cluster a labelled collection again, keeping the ids applications filter on.

A relabel is `label` on a collection that has labels already, with a guard: the
new clusters take the ids of the old clusters they overlap most (core/stable_ids.py),
the drift is reported, and `max_changed` refuses to write (DriftTooLarge, nothing
written) when more rows than that fraction would change label, unless `force`.
Rows keep their labels where the new clustering gives no reason to move them
(core/anchor.py), unless `fresh` or `changes` change a parameter.
It clusters with the parameters of the run that made the current clusters, so
that a weekly job without options does what the first `label` did; `changes`
sets some of them anew. A relabel killed half-way leaves each row with its old
label or its new one, never none, and its run row `running`; the next relabel
does the work again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.label import LabelResult, label_collection
from milvus_cluster.commands.stages import StageProgress
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.stable_ids import DriftGuard
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.jobs.lock import LOCK_TTL


def relabel_collection(
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    vector_field: str | None = None,
    label_field: str = "cluster_id",
    prob_field: str | None = "cluster_prob",
    changes: dict[str, Any] | None = None,
    max_changed: float | None = None,
    force: bool = False,
    fresh: bool = False,
    text_field: str | None = None,
    preview: bool = False,
    progress: StageProgress | None = None,
    lock_ttl: float = LOCK_TTL,
    layer_fields: Sequence[str] | None = None,
) -> LabelResult:
    """Re-cluster `collection` with stable ids (see the module's contract). `changes`
    maps Parameters fields to new values, e.g. {"min_cluster_size": 30}; `text_field`
    and `preview` are label_collection's. `fresh` writes the new clustering as it is,
    its clusters renamed to the old ids they match, without holding rows to their old
    labels (core/anchor.py); so does a relabel whose `changes` change a parameter, as
    its new clustering is what was asked for. A later relabel holds rows again."""
    previous = previous_parameters(collection, uri, token, db_name)
    usual = replace(previous, anchor=True)  # whatever the last relabel was
    asked = replace(usual, **(changes or {}))
    parameters = replace(asked, anchor=asked == usual and not fresh)
    return label_collection(
        collection,
        uri=uri,
        token=token,
        db_name=db_name,
        vector_field=vector_field,
        label_field=label_field,
        prob_field=prob_field,
        parameters=parameters,
        progress=progress,
        relabel=DriftGuard(max_changed, force),
        text_field=text_field,
        preview=preview,
        lock_ttl=lock_ttl,
        layer_fields=layer_fields,
    )


def previous_parameters(collection: str, uri: str, token: str, db_name: str) -> Parameters:
    """The parameters of the last label or relabel run, or the defaults if none is known."""
    with connect(uri, token, db_name) as milvus:
        catalog = Catalog.open(milvus, collection)
        run = catalog.last_labelling() if catalog is not None else None
        return Parameters.of(run.parameters) if run else Parameters()
