"""The layer rule, checked: which package of milvus_cluster may import which.

    base (errors, extras, checkpoints) < core < milvus < migration | jobs < commands < cli

A module imports from its own package or from a lower layer, never from a higher
one nor across (migration and jobs know nothing of each other); only the adapter
(milvus/) imports pymilvus or milvus_lite; the core does no I/O; and no two modules
import each other, directly or round a longer loop. Imports inside functions count;
imports under `if TYPE_CHECKING:` do not (they never run). The package's own
__init__ and __main__ sit above everything: they re-export, nothing imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "milvus_cluster"
LAYERS = {"base": 0, "core": 1, "milvus": 2, "migration": 3, "jobs": 3, "commands": 4, "cli": 5}
BASE = ("errors", "extras", "checkpoints")  # modules every layer may use
MILVUS_CLIENTS = {"pymilvus", "milvus_lite"}
NO_IO_IN_CORE = {"os", "pathlib", "socket", "subprocess", "threading", "urllib", "shutil", "click"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """Every name the file imports at run time: `import a.b` gives a.b; `from a import b`
    gives a.b (a module, or a name in a) — package_graph tells which."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _under_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import; write milvus_cluster.…"
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        # `from a import b`: the module a.b if there is one, else the module a
        modules = {i if i in files else i.rpartition(".")[0] for i in imports_of(path)}
        graph[name] = {other for other in modules if other in files and other != name}
    return graph


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return "base" if parts[1] in BASE else parts[1] if parts[1] in LAYERS else None


GRAPH = package_graph()


def test_every_module_has_a_layer():
    loose = [m for m in GRAPH if layer_of(m) is None and m.split(".")[-1] not in ("__main__",)]
    assert loose == ["milvus_cluster"], f"modules outside every layer: {loose}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_the_layers(module):
    mine = layer_of(module)
    if mine is None:
        return  # the package's __init__ and __main__: the public face, above every layer
    wrong = []
    for other in GRAPH[module]:
        theirs = layer_of(other)
        if theirs is None:
            wrong.append(f"{other} (the package's public face)")
        elif theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
            wrong.append(f"{other} ({theirs} is not below {mine})")
    assert not wrong, f"{module} imports {', '.join(sorted(wrong))}"


def test_only_the_adapter_imports_pymilvus():
    outside = {
        f"{module_name(path)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if layer_of(module_name(path)) != "milvus"
        for name in imports_of(path)
        if name.split(".")[0] in MILVUS_CLIENTS
    }
    assert not outside


def test_the_core_does_no_io():
    found = {
        f"{module_name(path)}: {name}"
        for path in (PACKAGE / "core").rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in NO_IO_IN_CORE | MILVUS_CLIENTS
    }
    assert not found


def test_no_import_cycles():
    """Depth-first search for a back edge; the cycle found is named in the failure."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for other in sorted(GRAPH[module]):
            if state.get(other) == "open":
                return path[path.index(other) :] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(GRAPH):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, " -> ".join(cycle)


def test_the_rule_itself_sees_a_violation(tmp_path):
    """A check that could never fail would prove nothing: a core module importing the
    adapter and pymilvus inside a function is seen."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from milvus_cluster.core import knn\n"
        "def f():\n    import pymilvus\n    from milvus_cluster.milvus.client import Milvus\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import click\n"
    )
    assert imports_of(bad) == {
        "milvus_cluster.core.knn",
        "pymilvus",
        "milvus_cluster.milvus.client.Milvus",
        "typing.TYPE_CHECKING",
    }
