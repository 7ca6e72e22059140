#!/usr/bin/env bash
# The GPU check for a lent GPU machine (nothing outside it reachable): a random-weight model of
# Llama 3 8B's shape, a few steps of SFT, RLOO and PPO in bfloat16 and with a 4-bit base, peak GPU
# memory and tokens/s per step. Installs nothing: run it from the repository root with the
# project's venv carried along (bitsandbytes in it for the 4-bit rows; they are skipped with one
# line without it). Arguments go to benchmarks/gpu_check.py (--tiny: a dry run on a tiny shape).
#   benchmarks/gpu_check.sh
#   benchmarks/gpu_check.sh --methods sft,rloo --modes 4bit --steps 2
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1 TOKENIZERS_PARALLELISM=false PIP_NO_INDEX=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv || true
WORK="${GPU_CHECK_WORK:-${TMPDIR:-/tmp}/cai-gpu-check}"
exec "$PY" benchmarks/gpu_check.py --work "$WORK" "$@"
