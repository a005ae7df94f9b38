"""The README stays true: its Python examples compile and every name they import from
milvus_cluster exists, and the quick start has exactly its two command lines."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_examples_import_what_exists():
    examples = blocks("python")
    assert examples
    imported = []
    for example in examples:
        for node in ast.walk(ast.parse(example)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "milvus_cluster"
            ):
                module = importlib.import_module(node.module or "")
                imported += [f"{node.module}.{alias.name}" for alias in node.names]
                missing = [alias.name for alias in node.names if not hasattr(module, alias.name)]
                assert not missing, f"README imports {missing} from {node.module}"
    assert "milvus_cluster.label_collection" in imported


def test_the_public_api_loads_lazily_and_completely():
    import milvus_cluster

    for name in milvus_cluster.__all__:
        assert getattr(milvus_cluster, name) is not None, name


def test_quick_start_has_two_lines_install_and_demo_then_tests():
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    lines = [line for line in blocks("bash")[0].splitlines() if line.strip()]
    assert blocks("bash")[0] in quick_start
    assert len(lines) == 2
    assert lines[0].endswith("milvus-cluster demo")
    assert lines[1].endswith("python -m pytest")
