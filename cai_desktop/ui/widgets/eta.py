"""Time left, in words a status bar can hold ("45s", "3m 05s", "2h 10m")."""

from __future__ import annotations


def format_eta(seconds: float) -> str:
    """``seconds`` as a short duration; "?" when unknown (negative)."""
    if seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {(seconds % 3600) // 60:02d}m"
