"""Regenerate data/plan_variance.json: the shared-component variance split of eai plan's joint predictive.

Reads the cross-validated residuals `eai evaluate` stored in models/evaluation.json (they must
have been computed on data/measured.csv) and prints the weights. Exit 1 when the report does not
match the table.

Run: python bench/plan_variance.py   (PYTHONPATH = repository root)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommender.errors import EaiError  # noqa: E402
from recommender.plan.variance import VARIANCE_PATH, estimate_from_files, save  # noqa: E402


def main() -> int:
    try:
        split = estimate_from_files(ROOT / "models" / "evaluation.json", ROOT / "data" / "measured.csv")
    except EaiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    save(split, VARIANCE_PATH)
    print(f"weights {split.weights}, unshared {split.idiosyncratic:.3f}, rho(energy, time) {split.rho_energy_time:.3f}")
    print(f"pairs {split.pairs}; table {split.data_hash[:12]}; wrote {VARIANCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
