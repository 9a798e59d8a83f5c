#!/usr/bin/env bash
# The GPU check as one prepared run: tools/gpu/check.sh OUT_DIR [--rows N] [--epochs N] [--configs full,large]
# Runs on a bare CUDA image (torch, lightning, pandas, pyarrow, onnxruntime; no Dagster or MLflow) and on any CPU
# machine, where it reports every GPU step as skipped. `--help` lists the options; docs/bench/training.md the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${FLYWHEEL_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PY" -m tools.gpu.check "$@"
