"""How the commands reach Milvus: MILVUS_URI as users write it, for a Lite file too."""

from __future__ import annotations

import pytest


@pytest.mark.backends("lite")  # what it checks is a Lite path in MILVUS_URI
def test_milvus_uri_naming_a_lite_file_works_for_a_command(uri, spawn):
    """pymilvus parses MILVUS_URI as it is imported and refuses a Lite path; the command
    must still run (here: one clear line about the missing collection, no traceback)."""
    done = spawn.run("-m", "milvus_cluster", "show", "-c", "products", env={"MILVUS_URI": uri})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Illegal uri" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: Collection 'products' does not exist; check -c/--collection."
    ]
