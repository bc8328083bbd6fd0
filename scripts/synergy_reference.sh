#!/bin/sh
# Regenerate tests/data/synergy_reference/ with the Python `synergy` package 1.0.0
# (plates under known models, and the package's scores and MuSyC fits of them).
# Creates its own virtual environment in .venv-synergy (ignored by git).
set -eu
cd "$(dirname "$0")/.."
if [ ! -x .venv-synergy/bin/python ]; then
    python3 -m venv .venv-synergy
fi
.venv-synergy/bin/pip install --quiet synergy==1.0.0
.venv-synergy/bin/python scripts/synergy_reference.py
