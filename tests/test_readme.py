"""The README stays true: its Python examples compile and every name they import from
milvus_cluster exists, the quick start has exactly its two command lines, every command
line parses, and those on the demo collection (`docs`) run on Milvus Lite."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import click
import pytest
from helpers import create_table, release_lite, run
from pymilvus import MilvusClient

from milvus_cluster.cli import main

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


# -- the README's command lines -------------------------------------------------------

SHELL_OPERATORS = {"&&", "||", "|", ">", ">>", "2>", "2>>", "2>&1", ";"}
DEMO = "docs"  # the collection the README's examples label


def command_lines() -> list[tuple[int, list[str]]]:
    """Every `milvus-cluster …` of the README's bash and cron blocks: (block number, the
    arguments after `milvus-cluster`), comments and redirections left out."""
    found = []
    for number, block in enumerate(re.findall(r"```(?:bash|cron)\n(.*?)```", README, flags=re.S)):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            for start, word in enumerate(words):
                if word == "milvus-cluster" or word.endswith("/bin/milvus-cluster"):
                    rest = words[start + 1 :]
                    stop = next((i for i, w in enumerate(rest) if w in SHELL_OPERATORS), None)
                    found.append((number, rest[:stop]))
    return found


def test_every_readme_command_parses(tmp_path, monkeypatch):
    """Options and commands that no longer exist fail here (no Milvus: parsing only)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "news_data_dedup.csv").write_text("title,description\n")  # ingest's FILE
    lines = command_lines()
    assert len(lines) > 15
    for _, (name, *rest) in lines:
        with click.Context(main, info_name="milvus-cluster") as group:
            command = main.get_command(group, name)
            assert command is not None, name
            command.make_context(name, rest, parent=group)


def runnable(arguments: list[str]) -> bool:
    """A command on the demo collection that runs on a Lite file of the test's own: not
    one aimed at a server."""
    return DEMO in arguments and not any("://" in word for word in arguments)


@pytest.mark.backends("lite")  # the README's examples, on Milvus Lite
def test_readme_commands_on_the_demo_collection_run_on_lite(tmp_path, uri, client, monkeypatch):
    """Each block of README commands on `docs` runs in order, on a fresh Lite file with a
    small `docs` collection (labelled first when the block does not label it itself), in
    a folder of its own: `export` writes where it is told, the checkout is no place."""
    monkeypatch.chdir(tmp_path)
    blocks: dict[int, list[list[str]]] = {}
    for number, arguments in command_lines():
        if runnable(arguments):
            blocks.setdefault(number, []).append(arguments)
    assert len(blocks) >= 3 and sum(map(len, blocks.values())) >= 10
    client.close()
    release_lite(uri)
    for number, commands in blocks.items():
        path = str(tmp_path / f"block{number}.db")
        demo = MilvusClient(path)
        create_table(demo, n=300, name=DEMO, topics=True)
        demo.close()
        if commands[0][0] not in ("label", "collections"):
            commands = [["label", "-c", DEMO], *commands]
        for arguments in commands:
            result = run(*arguments, "--uri", path)
            assert result.exit_code == 0, (arguments, result.output)
        release_lite(path)
