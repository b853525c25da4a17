"""Fresh-process speed of ``eai recommend`` relative to importing scikit-learn and pandas.

Runs, alternately and each in a new process,

    python -c "import sklearn, pandas"                      (reference)
    eai recommend --scenario edge --task gsm8k --min-accuracy 0.6 --priority energy --json

and prints the median wall time of each and their ratio (target: < 1.5). The
``eai`` run uses the shipped catalogs and the fitted predictor; its exit status
(0 answered, 3 nothing feasible) is reported, as both are complete answers.

    .venv/bin/python bench/recommend_speed.py [--runs 7] [recommend ARGS...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARGS = ["recommend", "--scenario", "edge", "--task", "gsm8k", "--min-accuracy", "0.6", "--priority", "energy", "--json"]


def _time(cmd: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode not in (0, 3):
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"command failed with exit status {proc.returncode}: {' '.join(cmd)}")
    return elapsed, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("eai_args", nargs=argparse.REMAINDER, help="arguments for eai (default: the edge/gsm8k/energy example)")
    args = ap.parse_args()
    eai = Path(sys.executable).with_name("eai")
    eai_cmd = [str(eai), *(args.eai_args or DEFAULT_ARGS)]
    ref_cmd = [sys.executable, "-c", "import sklearn, pandas"]
    # One warm-up of each so that both start from a warm OS file cache.
    _time(ref_cmd)
    _time(eai_cmd)
    ref, rec, codes = [], [], set()
    for _ in range(args.runs):
        ref.append(_time(ref_cmd)[0])
        t, code = _time(eai_cmd)
        rec.append(t)
        codes.add(code)
    r, e = statistics.median(ref), statistics.median(rec)
    print(f"reference  python -c 'import sklearn, pandas': median {r:.3f} s over {args.runs} runs (min {min(ref):.3f})")
    print(f"eai {' '.join(eai_cmd[1:])}: median {e:.3f} s (min {min(rec):.3f}; exit status {sorted(codes)})")
    print(f"ratio (median eai / median reference): {e / r:.2f}  (target < 1.5: {'met' if e / r < 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
