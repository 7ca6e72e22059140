"""Argument conversions shared by the command modules."""

from __future__ import annotations

import argparse


def split_arg(value: str) -> str | None:
    """``--split train|test|all``: 'all' means no split filter."""
    return None if value == "all" else value


def run_ids_arg(value: str | None) -> list[int]:
    """``--runs 3,5``: run ids separated by commas (empty: all)."""
    if not value:
        return []
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"run ids must be numbers separated by commas, not {value!r}") from None
