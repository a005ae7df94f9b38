"""Keywords that name each cluster, from its members' texts: class-based TF-IDF.

The contract: `cluster_keywords(texts, labels)` takes n texts and their n labels
(cluster ids ≥ 0, -1 for noise) and returns, for every cluster id 0..max, its
`top` words, best first (an empty list when a cluster has no usable words).
It is a pure function: no Milvus, no state; `show` and `plot` call it with the
texts they read.

c-TF-IDF (as BERTopic names topics): all texts of one cluster form one
document, and a word's weight in cluster c is

    tf(t, c) · log(1 + A / f(t))

tf: the word's count in c divided by c's word count; f(t): its count in all
texts; A: the mean number of words per cluster. A word common everywhere sinks,
a word frequent in one cluster rises. Noise takes part as one more class (its
words are part of the corpus), but gets no keywords. scikit-learn's
CountVectorizer does the tokenising and stop words.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix, diags
from sklearn.feature_extraction.text import CountVectorizer

# A token has two or more word characters and at least one letter: "2024" and "x" go.
TOKENS = r"(?u)\b(?=\w*[^\W\d_])\w\w+\b"
MAX_WORDS = 100_000  # vocabulary cap: memory stays small on millions of texts
MIN_TEXTS_FOR_SHARE = 20  # below this, a word in half the texts may still be a name


def cluster_keywords(
    texts: Sequence[str | None],
    labels: np.ndarray | Sequence[int],
    top: int = 8,
    stop_words: str | list[str] | None = "english",
    ngram_range: tuple[int, int] = (1, 1),
    max_share: float = 0.5,
) -> dict[int, list[str]]:
    """The `top` c-TF-IDF words of each cluster id 0..max(labels) (see the module).

    Words found in more than `max_share` of all texts ("said" in news) name no
    cluster and are left out; c-TF-IDF alone keeps them on top when there are
    only a few clusters."""
    labels = np.asarray(labels, dtype=np.int64)
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    vectorizer = CountVectorizer(
        token_pattern=TOKENS,
        stop_words=stop_words,
        ngram_range=ngram_range,
        preprocessor=_plain,
        max_features=MAX_WORDS,
        max_df=max_share if len(texts) >= MIN_TEXTS_FOR_SHARE else 1.0,
    )
    try:
        counts = vectorizer.fit_transform([text or "" for text in texts])
    except ValueError:  # no word at all (empty texts, only stop words)
        return {cluster: [] for cluster in range(n_clusters)}
    weights = class_tf_idf(counts, labels, n_clusters)
    words = vectorizer.get_feature_names_out()
    return {cluster: _best(weights, cluster, words, top) for cluster in range(n_clusters)}


def class_tf_idf(counts: csr_matrix, labels: np.ndarray, n_clusters: int) -> csr_matrix:
    """c-TF-IDF weights, sparse (n_clusters + 1) × words, the last row for noise.

    `counts` is the n × words document-term matrix; summing its rows per class is
    one sparse product with the class-membership matrix, no texts joined. Sparse
    throughout: a thousand clusters × 100,000 words would be 800 MB dense."""
    classes = np.where(labels >= 0, labels, n_clusters)
    membership = csr_matrix(
        (np.ones(len(labels)), (classes, np.arange(len(labels)))),
        shape=(n_clusters + 1, len(labels)),
    )
    per_class = csr_matrix(membership @ counts, dtype=np.float64)
    words_in_class = np.asarray(per_class.sum(axis=1)).ravel()
    frequency = np.asarray(per_class.sum(axis=0)).ravel()
    mean_words = words_in_class[words_in_class > 0].mean() if words_in_class.any() else 0.0
    tf = diags(1.0 / np.maximum(words_in_class, 1.0)) @ per_class
    return csr_matrix(tf @ diags(np.log1p(mean_words / np.maximum(frequency, 1.0))))


def _plain(text: str) -> str:
    """Lower case, HTML entities decoded: scraped news is full of "&nbsp;"."""
    return html.unescape(text).lower()


def _best(weights: csr_matrix, cluster: int, words: np.ndarray, top: int) -> list[str]:
    """The `top` words of one row of the sparse weights, best first."""
    start, stop = weights.indptr[cluster], weights.indptr[cluster + 1]
    values, columns = weights.data[start:stop], weights.indices[start:stop]
    order = np.lexsort((columns, -values))[:top]
    return [str(words[columns[i]]) for i in order if values[i] > 0]


def cluster_name(cluster: int, keywords: dict[int, list[str]], words: int = 3) -> str:
    """A short name: "12 · football, league, goal" (just "12" without keywords)."""
    found = keywords.get(cluster, [])[:words]
    return f"{cluster} · {', '.join(found)}" if found else str(cluster)
