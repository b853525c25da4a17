#!/usr/bin/env bash
# Set up a light virtual environment (no torch) and answer one deployment question on the shipped data.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-run
.venv-run/bin/pip install -q --upgrade pip
.venv-run/bin/pip install -q -e .
.venv-run/bin/eai recommend --scenario data-center --task mmlu --min-accuracy 0.5 --priority energy "$@"
