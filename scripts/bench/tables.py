"""Markdown tables and number formats, as every benchmark script prints them, and the
JSON file each writes beside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GIB = 2**30


def gib(value: int | None) -> str:
    """Bytes as GiB with two decimals; "-" for none."""
    return f"{value / GIB:.2f}" if value else "-"


def secs(value: float | None) -> str:
    """Seconds: two decimals below 10 s, one above."""
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [row(header), "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + [row(cells) for cells in rows])


def publish(text: str, document: dict[str, Any], out: str) -> None:
    """Print a benchmark's table and write everything, the table too, as JSON to `out`."""
    print(text)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document | {"table": text}, indent=2))
