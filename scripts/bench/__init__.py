"""The benchmark scripts' shared pieces: data, Milvus Lite helpers, measurement, reports.

scripts/bench_label.py runs the suite (suite.py) through child processes (children.py);
scripts/bench_assign.py and scripts/bench_topics.py reuse the data, Lite and table helpers.
"""
