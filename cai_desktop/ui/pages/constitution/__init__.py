"""Constitution editor: ordered principles, a form per principle, live validation, undo/redo,
import/export in every format, few-shot examples, versions with a diff, per-principle statistics.

One module per part: ``page`` (the container: picker, save, import, export), ``principles`` (the
list beside the tabs), and one per tab: ``principle_form``, ``meta``, ``few_shot``, ``versions``,
``stats``. Run alone: ``python -m cai_desktop.ui.pages.constitution PROJECT`` (or any of those
modules with ``-m``).

Names are imported on first use (PEP 562), so running one module alone does not load it twice
and ``run_standalone`` does not pull in the whole editor.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConstitutionPage": "page",
    "EXPORT_FORMATS": "page",
    "IMPORT_FILTER": "import_dialog",
    "IMPORT_FORMATS": "import_dialog",
    "ImportDialog": "import_dialog",
    "PrincipleList": "principles",
    "find_move": "principles",
    "run_standalone": "standalone",
    "EDITOR_VERSION": "versions",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
