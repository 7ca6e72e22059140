"""Where the shipped starter files live (beside the package in a checkout, inside it when installed)."""

from __future__ import annotations

from pathlib import Path

from cai_desktop.core.errors import CaiError

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for base in (_PKG / "data", _PKG.parent):
        if (base / name).is_dir():
            return base / name
    raise CaiError(
        f"The starter folder {name!r} is missing from this installation (looked in {_PKG / 'data'} and "
        f"{_PKG.parent}); reinstall CAI Desktop, or import a constitution and prompts from your own files."
    )


def constitutions_dir() -> Path:
    return _find("constitutions")


def resources_dir() -> Path:
    return _find("resources")


def starter_constitutions() -> list[Path]:
    return sorted(constitutions_dir().glob("*.json"))
