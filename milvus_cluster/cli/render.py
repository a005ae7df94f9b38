"""Every result as the terminal shows it: one function per result, text in, nothing else.

The library's values carry data only; where the library itself needs words (an error
message that names a lock holder, a plan's steps in --json) the value has a
`describe()` of its own, and this module uses it rather than saying it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands' modules load only when a command runs
    from milvus_cluster.commands.assign import AssignResult
    from milvus_cluster.commands.collections import CollectionList
    from milvus_cluster.commands.demo import DemoReport
    from milvus_cluster.commands.ingest import IngestResult
    from milvus_cluster.commands.label import LabelResult
    from milvus_cluster.commands.plot import MapResult
    from milvus_cluster.commands.show import ShowResult, TreeNode
    from milvus_cluster.commands.unlabel import Exported, Unlabelled
    from milvus_cluster.migration.rollback import Rollback
    from milvus_cluster.milvus.capabilities import Capabilities

YES = {True: "yes", False: "no"}


def label_text(result: LabelResult) -> str:
    if result.dry_run:
        return "Dry run: nothing was changed. The plan:\n" + result.plan.describe()
    if result.preview:
        return preview_text(result)
    return label_summary(result)


def plan_text(result: LabelResult) -> str:
    lines = capabilities_lines(result.capabilities) if result.capabilities else []
    return "\n".join([*lines, result.plan.describe()])


def capabilities_lines(capabilities: Capabilities) -> list[str]:
    """One line a capability, for `plan`."""
    c = capabilities
    how = "probed" if c.probed else "inferred from the version"
    return [
        f"server: {c.version} ({'Milvus Lite' if c.lite else 'Milvus'}; {how})",
        f"  add a field to a collection: {YES[c.add_field]}",
        f"  nullable fields: {YES[c.nullable]}; default values: {YES[c.default_value]}",
        f"  partial upsert: {YES[c.partial_upsert]}",
        f"  upsert keeps auto_id keys: {YES[c.upsert_keeps_auto_id]}; "
        f"insert with keys into auto_id: {YES[c.insert_auto_id]}",
        f"  scalar index on INT64: {c.scalar_index}",
    ]


def label_summary(result: LabelResult) -> str:
    verb = "Relabelled" if result.drift else "Labelled"
    lines = [
        f"{verb} {result.rows:,} rows of {result.requested!r} with {result.plan.label_field!r}.",
        *clustering_lines(result),
    ]
    if result.plan.strategy == "shadow":
        lines.append(f"  backup:   {result.plan.backup!r} (the collection as it was)")
    lines.extend(job_lines(result.run_id, result.catalog, result.took_over))
    if result.cluster_ids:
        largest_filter = f'filter="{result.plan.label_field} == {result.cluster_ids[0]}"'
        lines.append(f"  filter:   {largest_filter} (the largest cluster)")
    return "\n".join(lines)


def preview_text(result: LabelResult) -> str:
    """What `label --preview` found: the clustering a run would write, and its names."""
    lines = [
        f"Preview of {result.requested!r}: {result.rows:,} rows clustered; nothing was written.",
        *clustering_lines(result),
    ]
    if result.keywords:
        lines.append(f"  largest clusters (keywords from {result.text_field!r}):")
        for cluster, size in list(zip(result.cluster_ids, result.sizes))[:10]:
            words = ", ".join(result.keywords.get(cluster, [])[:6])
            lines.append(f"    {cluster:>5}  {size:>8,}  {words}")
    return "\n".join(lines)


def clustering_lines(result: LabelResult) -> list[str]:
    """Clusters, noise, how, and the seconds: what a run and a preview both report."""
    p = result.parameters
    largest = ", ".join(f"{size:,}" for size in result.sizes[:8])
    more = f" and {len(result.sizes) - 8} more" if len(result.sizes) > 8 else ""
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
    total = sum(result.seconds.values())
    lines = [
        f"  clusters: {result.clusters}  (sizes {largest or 'none'}{more})",
        f"  noise:    {result.noise:,} rows ({100 * result.noise_share:.1f} %), label -1"
        + noise_before(result),
        f"  strategy: {result.plan.strategy} ({result.plan.write}); kNN {result.knn}, k={p.k}, "
        f"min_samples={p.min_samples}, min_cluster_size={p.min_cluster_size}",
    ]
    if result.sampled:
        lines.append(sample_line(result))
    if result.layers:
        counts = " → ".join(f"{count:,}" for count in [result.clusters, *result.layers])
        fields = result.plan.layer_fields
        written = f" (written to {', '.join(fields)})" if fields else " (in the catalog)"
        lines.append(f"  layers:   {counts} clusters{written}; show --tree shows them")
    if p.reduce is not None:
        lines.append(f"  reduced:  UMAP to {p.reduce.dim} dimensions before clustering")
    if p.engine == "evoc":
        lines.append(
            "  engine:   EVoC on the vectors (its own neighbours; --engine hdbscan for HDBSCAN)"
        )
    if result.pieces > 1:
        lines.append(
            f"  note:     the kNN graph was in {result.pieces} pieces (groups of rows with no "
            "neighbour in another group); they were joined by their closest rows, so every "
            "row could be clustered"
        )
    if result.drift:
        lines.append(f"  drift:    {result.drift.describe()}")
    lines.append(f"  seconds:  {stages} (total {total:.1f})")
    return lines


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


def demo_text(report: DemoReport) -> str:
    digits = ", ".join(str(hit["digit"]) for hit in report.search_hits)
    return "\n".join(
        [
            label_summary(report.result),
            f"Agreement with the true digits: adjusted Rand index {report.ari_clustered:.3f} on "
            f"the rows in clusters, {report.ari_all:.3f} with noise counted as a group.",
            f'search(filter="cluster_id == {report.search_cluster}", limit=5) found digits: '
            f"{digits}",
        ]
    )


def rollback_text(done: Rollback, cleanup_command: str) -> str:
    carried = (
        f" {done.carried_over:,} rows the application wrote since the label were carried back."
        if done.carried_over
        else ""
    )
    return (
        f"{done.collection!r} is {done.restored!r} again; the labelled copy is kept as "
        f"{done.set_aside!r} until `{cleanup_command}`.{carried}"
    )


def cleanup_text(collection: str, found: list[str], dropped: bool) -> str:
    if not found:
        return f"Nothing to clean up for {collection!r}."
    verb = "Dropped" if dropped else "Would drop (run again with --yes)"
    return f"{verb}: {', '.join(found)}"


def map_text(result: MapResult) -> str:
    sampled = f" (a sample of {result.rows:,} rows)" if result.sampled else ""
    lines = [
        f"Wrote {result.output}: {result.points:,} points{sampled}, {result.clusters} "
        f"clusters, {result.noise:,} noise; open it in a browser."
    ]
    largest = sorted(result.sizes, key=lambda c: -result.sizes[c])[:10]
    for cluster in largest:
        words = ", ".join(result.keywords.get(cluster, [])[:6])
        lines.append(f"  {cluster:>4}  {result.sizes[cluster]:>7,}  {words}")
    if len(result.sizes) > len(largest):
        lines.append(f"  … and {len(result.sizes) - len(largest)} more clusters")
    return "\n".join(lines)


def ingest_text(result: IngestResult) -> str:
    fields = ", ".join(f"{name} {kind}" for name, kind in result.fields.items())
    return "\n".join(
        [
            f"Ingested {result.inserted:,} rows into {result.collection!r} ({result.existed:,} "
            f"were there already; {result.rows:,} in the file), vectors: {result.vectors}, "
            f"{result.dim} dimensions, HNSW COSINE, in {result.seconds:.1f} s.",
            f"  fields: {fields}",
            f"  next:   {result.next_command}",
        ]
    )


def sample_line(result: LabelResult) -> str:
    """Sample mode: what was clustered, what was voted on, and what is left."""
    left = result.rows == result.sampled and not result.assigned
    rest = (
        "the other rows wait for `milvus-cluster assign [--shard I/N]`"
        if left
        else f"{result.assigned:,} more rows labelled by their nearest sampled rows, "
        f"{result.assigned_written:,} of them written (the others had that label already)"
    )
    return (
        f"  sample:   {result.sampled:,} rows clustered (seed {result.parameters.seed}, "
        f"min_cluster_size {result.sample_min_cluster_size} on the sample, run "
        f"{result.sample_run}); {rest}"
    )


def assign_text(result: AssignResult) -> str:
    if result.rows == 0 and not result.shard:
        return f"Every row of {result.requested!r} has a label; nothing to assign."
    if result.shard:
        return share_text(result)
    top = sorted(result.by_cluster.items(), key=lambda item: -item[1])
    gains = ", ".join(f"{cluster} +{rows:,}" for cluster, rows in top[:8])
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
    lines = [
        f"Assigned {result.rows:,} rows of {result.requested!r} that had no label: "
        f"{result.assigned:,} to clusters, {result.noise:,} noise (-1).",
        f"  clusters: {gains or 'none'}{' …' if len(top) > 8 else ''}",
        f"  seconds:  {stages} ({result.rows_per_second:,.0f} rows/s)",
        *job_lines(result.run_id, result.catalog, result.took_over),
    ]
    return "\n".join(lines)


def share_text(result: AssignResult) -> str:
    """assign in sample mode: one share of the rows a sample left, voted on."""
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
    lines = [
        f"Labelled {result.rows:,} rows of {result.requested!r} (shard {result.shard}) by the "
        f"sample of run {result.sample_run}: {result.assigned:,} to clusters, "
        f"{result.noise:,} noise (-1).",
        f"  seconds:  {stages} ({result.rows_per_second:,.0f} rows/s)",
        *job_lines(result.run_id, result.catalog, result.took_over),
    ]
    return "\n".join(lines)


def show_text(result: ShowResult) -> str:
    """`show`'s text: a header, one block per cluster, the recent runs, the lock."""
    share = 100 * result.noise / result.rows if result.rows else 0.0
    waiting = f" ({result.assign_command} gives them one)" if result.unlabelled else ""
    lines = [
        f"{result.collection!r}: {len(result.clusters)} clusters in {result.rows:,} rows "
        f"(catalog {result.catalog!r})",
        f"  noise: {result.noise:,} rows ({share:.1f} %); without a label: "
        f"{result.unlabelled:,}{waiting}",
        f"  {'id':>6}  {'size':>8}  {'share':>6}  exemplars",
    ]
    if result.tree is not None:
        lines[-1] = "  tree (layer: id, size, keywords):"
        lines += [line for node in result.tree for line in tree_lines(node, 2)]
    for view in result.clusters if result.tree is None else []:
        cluster = view.cluster
        exemplars = ", ".join(str(key) for key in cluster.exemplars)
        lines.append(
            f"  {cluster.cluster_id:>6}  {cluster.size:>8,}  {100 * view.share:5.1f}%  {exemplars}"
        )
        if cluster.keywords:
            lines.append(f"{'':>28}keywords: {', '.join(cluster.keywords[:8])}")
        lines.extend(f"{'':>28}{shorten(text)}" for text in view.texts[:3])
    lines.append("  runs:" if result.runs else "  runs: none")
    for run in result.runs:
        seconds = sum(run.seconds.values())
        counts = ", ".join(f"{k} {v:,}" for k, v in run.counts.items() if isinstance(v, int))
        took = f", {seconds:.1f} s" if seconds else ""
        error = f"  ({shorten(run.error, 100)})" if run.error else ""
        lines.append(
            f"    {run.started[:19]}Z  {run.command:<8} {run.state:<8} {counts}{took}{error}"
        )
    lines.append(f"  lock: {'held by ' + result.lock if result.lock else 'free'}")
    return "\n".join(lines)


def tree_lines(node: TreeNode, indent: int) -> list[str]:
    """A cluster of the tree on one line, its children indented beneath."""
    words = f"  {', '.join(node.keywords[:6])}" if node.keywords else ""
    line = f"{'':>{indent}}{node.layer}: {node.cluster_id:>4}  {node.size:>8,}{words}"
    return [line] + [text for child in node.children for text in tree_lines(child, indent + 4)]


def shorten(text: str, width: int = 70) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def collections_text(result: CollectionList) -> str:
    """One line a collection: name, rows, vectors, label field, last run."""
    if not result.collections:
        return f"No collections in database {result.database!r} at {result.uri}."
    rows = [("name", "rows", "vectors", "label field", "last run")]
    for c in result.collections:
        name = c.name + (f" ({c.kind})" if c.kind != "collection" else "")
        name += f" [aliases: {', '.join(c.aliases)}]" if c.aliases else ""
        vectors = ", ".join(f"{f} {m or 'no index'}" for f, m in c.vectors.items()) or "none"
        run = f"{c.last_run} {c.state} {c.finished[:19]}Z" if c.last_run else "never labelled"
        rows.append((name, f"{c.rows:,}", vectors, c.label_field or "-", run))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"Collections in database {result.database!r} at {result.uri}:"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        cells[1] = row[1].rjust(widths[1])
        lines.append("  " + "  ".join([*cells, row[4]]))
    if result.hidden:
        lines.append(f"  ({result.hidden} of milvus-cluster's own not shown; --all lists them)")
    return "\n".join(lines)


def unlabel_text(result: Unlabelled) -> str:
    verb = "Removed" if result.done else "Would remove (run again with --yes)"
    gone = []
    if result.catalog:
        gone.append(f"the catalog {result.catalog!r}")
    if result.cleared:
        rows = f" on {result.rows:,} rows" if result.done else ""
        gone.append(f"the values of {', '.join(result.cleared)}{rows}")
    if result.properties:
        gone.append(f"the emptied properties {', '.join(result.properties)}")
    if not gone:
        return f"{result.collection!r} carries nothing milvus-cluster added; nothing to remove."
    lines = [f"{verb} from {result.collection!r}: {'; '.join(gone)}."]
    lines.extend(f"  kept: {reason}" for reason in result.kept)
    return "\n".join(lines)


def export_text(result: Exported) -> str:
    return (
        f"Wrote {result.output} ({result.rows:,} rows: key, cluster id, probability) and "
        f"{result.clusters_output} ({result.clusters} clusters: id, size, keywords)."
    )
