# Two entry points on a fresh machine: `make serve` (the tiny model behind Ray Serve) and
# `make test`. Both build the virtualenv first; nothing else needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extras installed by `make install`; the CPU container image takes `cpu` only.
EXTRAS ?= cpu,eval,test
# Extra arguments of `make serve`, e.g. SERVE_ARGS="--host 0.0.0.0 --port 8000".
SERVE_ARGS ?=

.PHONY: install test lint bench-convert bench-serve serve test-gpu bench-gpu

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --progress-bar off -q --upgrade pip
	$(BIN)/pip install --progress-bar off -q -e ".[$(EXTRAS)]"
	# PyPI's torchvision/torchaudio are built for another torch and break transformers' imports
	# next to torch 2.13.0+cpu; nothing here needs them.
	$(BIN)/pip uninstall -y -q torchvision torchaudio || true
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench-convert: $(STAMP)
	$(BIN)/python benchmarks/convert_throughput.py

bench-serve: $(STAMP)
	$(BIN)/python benchmarks/serve_latency.py

# CUDA machines. GPU_PY is a Python with vLLM's CUDA build: the venv of `pip install -e
# ".[gpu,test]"` by default; on the offline GPU host (../shared/gpu-carry) run
# `. /root/site/env.sh && make test-gpu GPU_PY=python3` (README "On CUDA GPUs": what the carry
# lacks). The project goes as source (PYTHONPATH=. before the carry's own path); tests/gpu and
# the benchmark register the plugin themselves.
GPU_PY ?= $(BIN)/python

test-gpu:
	PYTHONPATH=.$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PY) -m pytest -rA tests/gpu

bench-gpu:
	PYTHONPATH=.$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PY) benchmarks/gpu_layer.py

# The main job: the embedded tiny Grok-1 on CPU, served by Ray Serve on 127.0.0.1:8000. `exec`:
# make's shell becomes serve_local, so a SIGTERM to make's child reaches it directly.
serve: $(STAMP)
	exec $(BIN)/python -m deployments.serve_local deployments/grok-tiny.yaml $(SERVE_ARGS)
