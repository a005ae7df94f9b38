"""Filter expressions: keys quoted and escaped (milvus/expressions.py)."""

from __future__ import annotations

from milvus_cluster.milvus.expressions import key_filter, quoted


def test_filter_expressions_quote_and_escape_keys():
    assert quoted('a"b\\c') == '"a\\"b\\\\c"'
    assert key_filter("id", "INT64", [0, -5]) == "id in [0, -5]"
    assert key_filter("pk", "VARCHAR", ['x"', "\\"]) == 'pk in ["x\\"", "\\\\"]'
