"""The cluster map as a plotly figure, and as one HTML page that works offline.

The contract: m points with 2-D coordinates (m × 2), labels (m,) (cluster id,
-1 noise, UNLABELLED for rows not labelled yet), keys (m,), texts (m, or None)
and keywords per cluster in; a plotly Figure out, returned rather than shown.
WebGL (Scattergl) draws the points, so 50,000 stay smooth: one trace for the
clusters (a colour per point), one grey trace for noise, one for unlabelled
rows; cluster names sit at their centres. `write_page` embeds plotly.js itself
(no CDN) and marks the page for tests: `data-points` on <body> is the number
of points plotly holds once drawn, `data-errors` on <html> any script error.
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from milvus_cluster.core.keywords import cluster_name
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.extras import require

NOISE_COLOUR = "#b0b0b0"
UNLABELLED_COLOUR = "#e0c9a6"
HOVER_CHARS = 240  # text shown on hover, then "…"
NAMED_CLUSTERS = 100  # names drawn for at most this many clusters (the largest)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>html, body {{ margin: 0; height: 100%; font-family: sans-serif; }}</style>
<script>
window.addEventListener("error", function (event) {{
  var root = document.documentElement;
  root.dataset.errors = (root.dataset.errors || "") + event.message + "\\n";
}});
</script></head>
<body>
{plot}
</body></html>
"""

# Runs after plotly has drawn the figure; {plot_id} is plotly's placeholder.
COUNT_POINTS = """
var plot = document.getElementById("{plot_id}");
document.body.dataset.points = plot._fullData
  .filter(function (trace) { return trace.type === "scattergl"; })
  .reduce(function (sum, trace) { return sum + trace._length; }, 0);
"""


def cluster_figure(
    xy: np.ndarray,
    labels: np.ndarray,
    keys: np.ndarray,
    texts: list[str | None] | None,
    keywords: dict[int, list[str]],
    title: str = "",
) -> Any:
    """A plotly Figure of the map (see the module)."""
    go = require("plotly.graph_objects", "plot", "plot")
    figure = go.Figure()
    for group, name, colour in (
        (-1, "noise", NOISE_COLOUR),
        (UNLABELLED, "not labelled yet", UNLABELLED_COLOUR),
    ):
        rows = np.flatnonzero(labels == group)
        if len(rows):
            figure.add_trace(_points(go, xy, rows, colour, name, labels, keys, texts, keywords))
    rows = np.flatnonzero(labels >= 0)
    if len(rows):
        colours = np.asarray(palette(int(labels[rows].max()) + 1))[labels[rows]]
        figure.add_trace(_points(go, xy, rows, colours, "clusters", labels, keys, texts, keywords))
        figure.add_trace(_names(go, xy, labels, keywords))
    figure.update_layout(
        title=title,
        template="plotly_white",
        hovermode="closest",
        dragmode="pan",
        legend={"itemsizing": "constant"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure


def _points(go, xy, rows, colour, name, labels, keys, texts, keywords) -> Any:
    """One WebGL trace; hover: key, cluster id, its keywords, the text."""
    custom = np.column_stack(
        [
            [html.escape(str(key)) for key in keys[rows]],
            [_cluster_text(int(label), keywords) for label in labels[rows]],
            [_hover_text(texts[row]) if texts else "" for row in rows],
        ]
    )
    return go.Scattergl(
        x=xy[rows, 0],
        y=xy[rows, 1],
        mode="markers",
        name=f"{name} ({len(rows):,})",
        marker={"color": colour, "size": 5, "opacity": 0.85 if name == "clusters" else 0.5},
        customdata=custom,
        hovertemplate="key %{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>",
    )


def _names(go, xy: np.ndarray, labels: np.ndarray, keywords: dict[int, list[str]]) -> Any:
    """Cluster names at the median of their points, for the largest clusters."""
    clusters, sizes = np.unique(labels[labels >= 0], return_counts=True)
    named = clusters[np.argsort(-sizes, kind="stable")[:NAMED_CLUSTERS]]
    centres = np.array([np.median(xy[labels == cluster], axis=0) for cluster in named])
    return go.Scatter(
        x=centres[:, 0],
        y=centres[:, 1],
        mode="text",
        name="names",
        text=[html.escape(cluster_name(int(c), keywords)) for c in named],
        textfont={"size": 11, "color": "#222", "shadow": "auto"},  # a halo over the points
        hoverinfo="skip",
        showlegend=False,
    )


def _cluster_text(label: int, keywords: dict[int, list[str]]) -> str:
    if label == -1:
        return "noise (-1)"
    if label == UNLABELLED:
        return "not labelled yet"
    words = ", ".join(keywords.get(label, [])[:6])
    return f"cluster {label}" + (f": {html.escape(words)}" if words else "")


def _hover_text(text: str | None) -> str:
    """The text, cut to HOVER_CHARS, escaped (hover labels read HTML), in short lines."""
    if not text:
        return ""
    cut = text if len(text) <= HOVER_CHARS else text[:HOVER_CHARS].rstrip() + "…"
    return "<br>".join(html.escape(line) for line in textwrap.wrap(cut, 70))


def palette(count: int) -> list[str]:
    """`count` distinct colours, cycling plotly's qualitative palettes."""
    colors = require("plotly.colors", "plot", "plot")
    base = colors.qualitative.Dark24 + colors.qualitative.Alphabet + colors.qualitative.Light24
    return [base[i % len(base)] for i in range(count)]


def write_page(figure: Any, output: str | Path, title: str) -> None:
    """The figure as one self-contained HTML file: plotly.js inside, no network needed."""
    plot = figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        post_script=COUNT_POINTS,
        default_width="100%",
        default_height="100vh",
        config={"displaylogo": False, "scrollZoom": True, "responsive": True},
    )
    page = PAGE.format(title=html.escape(title), plot=plot)
    Path(output).write_text(page, encoding="utf-8")
