"""How the commands reach Milvus: MILVUS_URI as users write it, for a Lite file too."""

from __future__ import annotations

import os
import subprocess
import sys


def test_milvus_uri_naming_a_lite_file_works_for_a_command(tmp_path):
    """pymilvus parses MILVUS_URI as it is imported and refuses a Lite path; the command
    must still run (here: one clear line about the missing collection, no traceback)."""
    env = os.environ | {"MILVUS_URI": str(tmp_path / "app.db")}
    done = subprocess.run(
        [sys.executable, "-m", "milvus_cluster", "show", "-c", "products"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Illegal uri" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: Collection 'products' does not exist; check -c/--collection."
    ]
