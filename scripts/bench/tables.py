"""Markdown tables and number formats, as every benchmark script prints them."""

from __future__ import annotations

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
