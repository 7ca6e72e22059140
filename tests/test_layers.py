"""The layer contract (DESIGN.md): core/store are torch- and Qt-free; the window does not load torch."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_core_and_store_import_neither_torch_nor_qt():
    mods = _modules_after(
        "import cai_desktop.core.constitution, cai_desktop.core.formats, cai_desktop.core.splits\n"
        "import cai_desktop.store.project, cai_desktop.store.prompts\n"
        "import pkgutil, importlib, cai_desktop.core, cai_desktop.store\n"
        "for pkg in (cai_desktop.core, cai_desktop.store):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)"
    )
    assert not mods & {*HEAVY, "PySide6"}, mods & {*HEAVY, "PySide6"}


def test_main_window_and_cli_do_not_import_torch():
    mods = _modules_after(
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from cai_desktop.ui.main_window import MainWindow\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "import cai_desktop.cli; cai_desktop.cli.build_parser()"
    )
    assert "PySide6" in mods
    assert not mods & set(HEAVY), mods & set(HEAVY)


def test_import_linter_contracts_hold():
    import shutil
    from pathlib import Path

    exe = Path(sys.executable).with_name("lint-imports")
    exe = str(exe) if exe.exists() else shutil.which("lint-imports")
    result = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_sql_outside_the_store():
    """ui/, jobs/ and cli/ reach the project file through its sub-managers (``project.runs``...)."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[1] / "cai_desktop"
    sql = re.compile(r"db\.execute|\.query\(|\.db\[")
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for layer in ("ui", "jobs", "cli")
        for path in sorted((root / layer).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if sql.search(line)
    ]
    assert not found, "\n".join(found)
