"""The cluster map as a plotly figure, and as one HTML page that works offline.

The contract: m points with 2-D coordinates (m × 2), labels (m,) (cluster id,
-1 noise, UNLABELLED for rows not labelled yet), keys (m,), texts (m, or None)
and keywords per cluster in; a plotly Figure out, returned rather than shown.
WebGL (Scattergl) draws the points, so 50,000 stay smooth. Traces, bottom to
top: noise (grey), one per cluster for the LEGEND_CLUSTERS largest (each its own
legend entry: click toggles it, double-click isolates it), "other clusters" for
the rest, and rows not labelled yet last, on top, as dark crosses. Cluster names
are annotations on a semi-opaque box at each cluster's median, so they stay
readable over dense clusters; they follow their trace's visibility.

`write_page` embeds plotly.js itself (no CDN), adds a search box over the hover
text (points that match stay, the rest fade; `#search=words` in the address
fills it in) and marks the page for tests: `data-points` on <body> is the number
of points plotly holds once drawn, `data-matches` the points the search matches
(absent while the box is empty), `data-errors` on <html> any script error.
"""

from __future__ import annotations

import colorsys
import html
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from milvus_cluster.core.keywords import cluster_name
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.extras import require

NOISE_COLOUR = "#b0b0b0"
UNLABELLED_COLOUR = "#111111"
HOVER_CHARS = 240  # text shown on hover, then "…"
LEGEND_CLUSTERS = 40  # clusters with a legend entry (trace) of their own, the largest
NAMED_CLUSTERS = 60  # names drawn for at most this many clusters (the largest)
FADED = 0.06  # opacity of the points a search does not match

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; font-family: sans-serif; }}
#search {{ position: fixed; top: 8px; left: 10px; z-index: 10; background: rgba(255,255,255,.9);
  border: 1px solid #ccc; border-radius: 4px; padding: 4px 6px; font-size: 13px; }}
#search input {{ width: 16em; font-size: 13px; }}
</style>
<script>
window.addEventListener("error", function (event) {{
  var root = document.documentElement;
  root.dataset.errors = (root.dataset.errors || "") + event.message + "\\n";
}});
</script></head>
<body>
<div id="search"><input id="search-box" type="search" placeholder="search the texts…"
  aria-label="search the hover texts"> <span id="search-count"></span></div>
{plot}
</body></html>
"""

# Runs after plotly has drawn the figure; {plot_id} is plotly's placeholder.
# Plain JS, no braces to escape: plotly substitutes {plot_id} with str.replace.
PAGE_SCRIPT = """
var plot = document.getElementById("{plot_id}");
document.body.dataset.points = plot._fullData
  .filter(function (trace) { return trace.type === "scattergl"; })
  .reduce(function (sum, trace) { return sum + trace._length; }, 0);

// Cluster names follow their cluster's trace (legend click, double-click).
plot.on("plotly_restyle", function () {
  var shown = {};
  plot.data.forEach(function (trace) {
    if (trace.meta !== undefined) {
      shown[trace.meta] = trace.visible !== "legendonly" && trace.visible !== false;
    }
  });
  var update = {};
  (plot.layout.annotations || []).forEach(function (note, i) {
    var visible = shown[note.name] !== false;
    if (note.visible !== visible) { update["annotations[" + i + "].visible"] = visible; }
  });
  if (Object.keys(update).length) { Plotly.relayout(plot, update); }
});

// The search box: points whose hover text has every word stay, the others fade.
var searchable = plot.data.map(function (trace) {
  if (trace.type !== "scattergl" || !trace.customdata) { return null; }
  return trace.customdata.map(function (row) {
    var holder = document.createElement("textarea");
    holder.innerHTML = row.join(" ").replace(/<br>/g, " ");
    return holder.value.toLowerCase();
  });
});
function search(query) {
  var words = query.toLowerCase().split(/\\s+/).filter(Boolean);
  var traces = [], selected = [], matches = 0;
  searchable.forEach(function (texts, i) {
    if (texts === null) { return; }
    traces.push(i);
    if (!words.length) { selected.push(null); return; }
    var hits = [];
    texts.forEach(function (text, j) {
      if (words.every(function (word) { return text.indexOf(word) >= 0; })) { hits.push(j); }
    });
    matches += hits.length;
    selected.push(hits);
  });
  Plotly.restyle(plot, { selectedpoints: selected }, traces);
  var count = document.getElementById("search-count");
  if (words.length) {
    document.body.dataset.matches = matches;
    count.textContent = matches.toLocaleString() + " match" + (matches === 1 ? "" : "es");
  } else {
    delete document.body.dataset.matches;
    count.textContent = "";
  }
}
var box = document.getElementById("search-box"), pending = null;
box.addEventListener("input", function () {
  clearTimeout(pending);
  pending = setTimeout(function () { search(box.value); }, 150);
});
var asked = /[#&]search=([^&]*)/.exec(location.hash);
if (asked) { box.value = decodeURIComponent(asked[1].replace(/\\+/g, " ")); search(box.value); }
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
    trace = _Traces(go, xy, labels, keys, texts, keywords)
    noise = np.flatnonzero(labels == -1)
    if len(noise):
        figure.add_trace(trace(noise, NOISE_COLOUR, f"noise ({len(noise):,})", opacity=0.45))
    clusters, sizes = np.unique(labels[labels >= 0], return_counts=True)
    by_size = clusters[np.argsort(-sizes, kind="stable")]
    if len(by_size):
        colours = np.asarray(palette(int(by_size.max()) + 1))
        for cluster in by_size[:LEGEND_CLUSTERS]:
            rows = np.flatnonzero(labels == cluster)
            name = f"{_short_name(int(cluster), keywords)} ({len(rows):,})"
            figure.add_trace(trace(rows, colours[cluster], name, meta=int(cluster)))
        rest = np.flatnonzero(np.isin(labels, by_size[LEGEND_CLUSTERS:]))
        if len(rest):
            name = f"other clusters: {len(by_size) - LEGEND_CLUSTERS} ({len(rest):,})"
            figure.add_trace(trace(rest, colours[labels[rest]], name, meta="other"))
    new = np.flatnonzero(labels == UNLABELLED)
    if len(new):
        figure.add_trace(
            trace(new, UNLABELLED_COLOUR, f"not labelled yet ({len(new):,})", symbol="x", size=6)
        )
    figure.update_layout(
        title={"text": title, "x": 0.5},
        template="plotly_white",
        hovermode="closest",
        dragmode="pan",
        legend={"itemsizing": "constant", "font": {"size": 11}, "tracegroupgap": 0},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False, "range": _padded(xy[:, 0], 0.12)},  # room for names at the edge
        yaxis={"visible": False, "range": _padded(xy[:, 1], 0.05)},
        annotations=_names(xy, labels, keywords, by_size),
    )
    return figure


def _padded(values: np.ndarray, share: float) -> list[float] | None:
    """The values' range widened by `share` of it on each side (None: plotly's own)."""
    if not len(values):
        return None
    low, high = float(np.min(values)), float(np.max(values))
    pad = share * (high - low) or 1.0
    return [low - pad, high + pad]


class _Traces:
    """Makes the WebGL traces; hover: key, cluster id, its keywords, the text."""

    def __init__(self, go, xy, labels, keys, texts, keywords) -> None:  # type: ignore[no-untyped-def]
        self.go, self.xy = go, xy
        self.custom = np.column_stack(
            [
                [html.escape(str(key)) for key in keys],
                [_cluster_text(int(label), keywords) for label in labels],
                [_hover_text(text) for text in texts] if texts else [""] * len(labels),
            ]
        )

    def __call__(
        self,
        rows: np.ndarray,
        colour: Any,
        name: str,
        meta: Any = None,
        opacity: float = 0.8,
        symbol: str = "circle",
        size: int = 5,
    ) -> Any:
        return self.go.Scattergl(
            x=self.xy[rows, 0],
            y=self.xy[rows, 1],
            mode="markers",
            name=name,
            meta=meta,
            marker={"color": colour, "size": size, "opacity": opacity, "symbol": symbol},
            unselected={"marker": {"opacity": FADED}},
            customdata=self.custom[rows],
            hovertemplate="key %{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}"
            "<extra></extra>",
        )


def _names(
    xy: np.ndarray, labels: np.ndarray, keywords: dict[int, list[str]], by_size: np.ndarray
) -> list[dict[str, Any]]:
    """Cluster names at the median of their points, on a semi-opaque box; the largest
    clusters' last, so where names overlap theirs are drawn on top."""
    notes = []
    for rank, cluster in enumerate(by_size[:NAMED_CLUSTERS]):
        x, y = np.median(xy[labels == cluster], axis=0)
        notes.append(
            {
                "x": float(x),
                "y": float(y),
                "text": html.escape(cluster_name(int(cluster), keywords)),
                "name": int(cluster) if rank < LEGEND_CLUSTERS else "other",
                "showarrow": False,
                "font": {"size": 12 if rank < 10 else 10, "color": "#111"},
                "bgcolor": "rgba(255,255,255,0.72)",
                "bordercolor": "rgba(0,0,0,0.25)",
                "borderpad": 2,
                "captureevents": False,
            }
        )
    return notes[::-1]


def _short_name(label: int, keywords: dict[int, list[str]]) -> str:
    words = ", ".join(keywords.get(label, [])[:3])
    return f"{label}: {html.escape(words)}" if words else f"cluster {label}"


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
    """`count` colours, none repeated: plotly's qualitative palettes (Dark24, Alphabet,
    Light24 without duplicates, 70-odd colours), then hues spaced by the golden angle."""
    colors = require("plotly.colors", "plot", "plot")
    base: list[str] = []
    for colour in (
        colors.qualitative.Dark24 + colors.qualitative.Alphabet + colors.qualitative.Light24
    ):
        if colour.upper() not in {seen.upper() for seen in base}:
            base.append(colour)
    seen = {colour.upper() for colour in base}
    step = 0
    while len(base) < count:
        hue = (step * 0.381966) % 1.0
        lightness, saturation = (0.38, 0.45, 0.55)[step % 3], (0.85, 0.65)[step % 2]
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
        colour = f"#{round(red * 255):02X}{round(green * 255):02X}{round(blue * 255):02X}"
        if colour not in seen:
            seen.add(colour)
            base.append(colour)
        step += 1
    return base[:count]


def write_page(figure: Any, output: str | Path, title: str) -> None:
    """The figure as one self-contained HTML file: plotly.js inside, no network needed."""
    plot = figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        post_script=PAGE_SCRIPT,
        default_width="100%",
        default_height="100vh",
        config={"displaylogo": False, "scrollZoom": True, "responsive": True},
    )
    page = PAGE.format(title=html.escape(title), plot=plot)
    Path(output).write_text(page, encoding="utf-8")
