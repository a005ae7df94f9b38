"""c-TF-IDF keywords: a pure function of texts and labels."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.keywords import class_tf_idf, cluster_keywords, cluster_name

SPORT = ["the striker scored a goal in the league match", "league match ends with a late goal"]
MONEY = ["the bank raised interest rates again", "interest rates and the bank's inflation fight"]


def test_each_cluster_gets_its_own_words_first():
    keywords = cluster_keywords(SPORT + MONEY, [0, 0, 1, 1], top=3)
    assert set(keywords) == {0, 1}
    assert set(keywords[0]) <= {"league", "match", "goal", "striker", "scored", "late", "ends"}
    assert {"league", "match", "goal"} & set(keywords[0])
    assert {"bank", "interest", "rates"} & set(keywords[1])
    assert not set(keywords[0]) & set(keywords[1])


def test_noise_gets_no_keywords_but_stays_in_the_corpus():
    keywords = cluster_keywords(SPORT + MONEY + ["noise about nothing"], [0, 0, 1, 1, -1])
    assert set(keywords) == {0, 1}
    assert "noise" not in keywords[0] + keywords[1]


def test_stop_words_numbers_and_html_entities_are_no_keywords():
    texts = ["the 2024 final&nbsp;final", "the 2024 final"]
    assert cluster_keywords(texts, [0, 0]) == {0: ["final"]}


def test_words_in_most_texts_name_no_cluster():
    """With few clusters c-TF-IDF alone would put "said" (in every text) on top."""
    texts = [f"said topic{i % 3} word{i}" for i in range(30)]
    keywords = cluster_keywords(texts, [i % 3 for i in range(30)])
    assert all("said" not in words for words in keywords.values())
    assert keywords[1][0] == "topic1"


def test_clusters_without_words_and_empty_input():
    assert cluster_keywords(["", None, "the a"], [0, 1, 1]) == {0: [], 1: []}
    assert cluster_keywords([], []) == {}
    assert cluster_keywords(["alpha beta"], [-1]) == {}
    keywords = cluster_keywords(["alpha", "beta", "gamma"], [0, 2, 2])
    assert keywords[1] == [] and keywords[0] == ["alpha"]


def test_weights_follow_the_formula():
    """tf(t, c) · log(1 + A / f(t)), checked by hand on a 2 × 2 count matrix."""
    from scipy.sparse import csr_matrix

    counts = csr_matrix(np.array([[2.0, 0.0], [1.0, 1.0]]))
    weights = class_tf_idf(counts, np.array([0, 1]), 1).toarray()
    mean_words = (2 + 2) / 2
    assert np.allclose(weights[0], [1.0 * np.log1p(mean_words / 3), 0.0])
    assert np.allclose(weights[1], [0.5 * np.log1p(mean_words / 3), 0.5 * np.log1p(mean_words)])


def test_cluster_name():
    assert cluster_name(3, {3: ["a", "b", "c", "d"]}) == "3 · a, b, c"
    assert cluster_name(4, {}) == "4"
