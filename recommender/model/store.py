"""Save and load a fitted predictor; staleness against the measured table.

Layout of a model directory (plain JSON, no pickle)::

    models/manifest.json    # format version, data hashes, library versions, fit time
    models/predictor.json   # fitted state (linear coefficients, widths, domains, lookups)

:func:`load_predictor` reads the small manifest first and compares its hashes with the
current measured table (``recommender.table.table_hash``), accuracy table and catalogs.
On a mismatch it refits (``on_stale="refit"``) or raises
:class:`~recommender.errors.ModelStateError` (``on_stale="refuse"``): a stale model is
never used silently. Loading imports numpy, pandas and the catalogs only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform as _platform
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recommender.errors import DataSourceError, ModelStateError
from recommender.model.config import PipelineConfig
from recommender.model.features import Catalogs
from recommender.model.predictor import FORMAT_VERSION, EaiPredictor

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"
"""The shipped fitted model."""

MANIFEST = "manifest.json"
STATE = "predictor.json"


def _default_table() -> Path:
    from recommender.table.io import DEFAULT_TABLE

    return DEFAULT_TABLE


def _default_accuracy() -> Path:
    from recommender.table.accuracy import DEFAULT_ACCURACY_TABLE

    return DEFAULT_ACCURACY_TABLE


def catalog_hash(catalogs: Catalogs) -> str:
    """SHA-256 of every catalog entry's values (a changed platform figure makes a model stale)."""
    payload = {
        "platforms": {k: v.model_dump(exclude={"sources", "aliases", "name"}) for k, v in sorted(catalogs.platforms.items())},
        "models": {k: v.model_dump(exclude={"aliases", "source", "checkpoints", "weights_format"}) for k, v in sorted(catalogs.models.items())},
        "tasks": {k: v.model_dump(exclude={"aliases", "source"}) for k, v in sorted(catalogs.tasks.items())},
        "quants": {k: v.model_dump(exclude={"description"}) for k, v in sorted(catalogs.quants.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _file_hash(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return ""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    from recommender import __version__

    return {
        "python": _platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "eai": __version__,
    }


def fit_from_files(
    table_path: str | Path | None = None,
    accuracy_path: str | Path | None = None,
    catalogs: Catalogs | None = None,
    calibrate: bool = True,
    config: PipelineConfig | None = None,
) -> EaiPredictor:
    """Fit a predictor on a measured table (and accuracy table) read from disk.

    Args:
        table_path: Measured CSV (default ``data/measured.csv``).
        accuracy_path: Accuracy CSV (default ``data/accuracy.csv``; a missing file means
            accuracy from the measured table only).
        catalogs: Catalogs (default: the shipped ones).
        calibrate: Calibrate interval widths (always true for a saved model).
        config: Pipeline stages and constants (default: every stage on).
    """
    from recommender.model.predictor import fit_predictor
    from recommender.table import load_table, table_hash
    from recommender.table.accuracy import load_accuracy

    tpath = Path(table_path) if table_path is not None else _default_table()
    apath = Path(accuracy_path) if accuracy_path is not None else _default_accuracy()
    cats = catalogs if catalogs is not None else Catalogs.load()
    table = load_table(tpath)
    accuracy = load_accuracy(apath) if apath.is_file() else None
    meta = {
        "table_path": str(tpath),
        "accuracy_path": str(apath) if accuracy is not None else "",
        "accuracy_hash": _file_hash(apath) if accuracy is not None else "",
        "catalog_hash": catalog_hash(cats),
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread: the fit is thousands of small solves and tree fits, where threads
    # only spin against each other on shared cores (3x slower at load 4 on 2 cores).
    with threadpool_limits(1):
        return fit_predictor(table, accuracy, cats, data_hash=table_hash(tpath), calibrate=calibrate, meta=meta, config=config)


def _state_bytes(state: Any) -> bytes:
    """The canonical JSON bytes of a state: what is written and what the SHA-256 covers."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")


def _atomic_write_json(path: Path, payload: Any) -> None:
    _atomic_write_bytes(path, _state_bytes(payload))


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; model files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_predictor(predictor: EaiPredictor, model_dir: str | Path = DEFAULT_MODEL_DIR) -> Path:
    """Write ``predictor.json`` and ``manifest.json`` into ``model_dir`` (atomically each)."""
    d = Path(model_dir)
    state = predictor.to_state()
    manifest = {
        "format_version": FORMAT_VERSION,
        "data_hash": predictor.data_hash,
        "accuracy_hash": predictor.meta.get("accuracy_hash", ""),
        "catalog_hash": predictor.meta.get("catalog_hash", ""),
        "fitted_at": predictor.meta.get("fitted_at", ""),
        "versions": predictor.meta.get("versions", {}),
        "n_rows": predictor.meta.get("n_rows", 0),
        "state_sha256": state_sha256(_state_bytes(state)),
    }
    _atomic_write_bytes(d / STATE, _state_bytes(state))
    _atomic_write_json(d / MANIFEST, manifest)
    return d


def state_sha256(state_bytes: bytes) -> str:
    """SHA-256 of the state file's bytes (``save_predictor`` writes the canonical JSON dump)."""
    return hashlib.sha256(state_bytes).hexdigest()


def _check_finite(node: Any, path: str = "") -> str | None:
    """Path of the first non-finite number (NaN, inf) in a fitted state that must not hold one."""
    if isinstance(node, float):
        return None if np.isfinite(node) else path or "/"
    if isinstance(node, dict):
        for k, v in node.items():
            bad = _check_finite(v, f"{path}/{k}")
            if bad:
                return bad
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad = _check_finite(v, f"{path}/{i}")
            if bad:
                return bad
    return None


FINITE_STATE_PARTS: tuple[str, ...] = ("components", "campaign")
"""Parts of the state whose numbers must all be finite: fitted coefficients, widths, roofline
constants, the campaign scale (the measured-cell table and the accuracy records may hold NaN for a missing figure)."""


def _read_state(state_path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The state's JSON after its integrity checks (stored SHA-256, finite coefficients).

    Raises:
        ModelStateError: The bytes do not match the manifest's SHA-256 (an edited or swapped
            file), the JSON is unreadable, or a fitted number is not finite.
    """
    fix = "refit with 'eai fit'"
    try:
        raw = state_path.read_bytes()
    except OSError as exc:
        raise ModelStateError(f"{state_path}: unreadable fitted state ({exc}); {fix}") from exc
    stored = str(manifest.get("state_sha256", ""))
    actual = state_sha256(raw)
    if stored != actual:
        raise ModelStateError(
            f"{state_path}: SHA-256 {actual[:12]}... does not match the {stored[:12] or 'missing'}... stored in "
            f"{state_path.parent / MANIFEST} (the file was edited or swapped); {fix}"
        )
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStateError(f"{state_path}: unreadable fitted state ({exc}); {fix}") from exc
    for part in FINITE_STATE_PARTS:
        # One C-speed dump finds whether a part holds a non-finite number; only then is it
        # walked for the path to name.
        text = json.dumps(state.get(part), allow_nan=True)
        bad = _check_finite(state.get(part), f"/{part}") if ("NaN" in text or "Infinity" in text) else None
        if bad:
            raise ModelStateError(f"{state_path}: non-finite number at {bad} of the fitted state; {fix}")
    return state


def _stale_reasons(manifest: dict[str, Any], table_path: Path, accuracy_path: Path, catalogs: Catalogs) -> list[str]:
    from recommender.table import table_hash

    reasons = []
    if manifest.get("format_version") != FORMAT_VERSION:
        reasons.append(f"state format {manifest.get('format_version')!r} != {FORMAT_VERSION}")
    current = table_hash(table_path)
    if manifest.get("data_hash") != current:
        reasons.append(f"table {str(table_path)!r} has SHA-256 {current[:12]}..., model was fit on {str(manifest.get('data_hash'))[:12]}...")
    if manifest.get("accuracy_hash", "") != _file_hash(accuracy_path):
        reasons.append(f"accuracy table {str(accuracy_path)!r} changed")
    if manifest.get("catalog_hash", "") != catalog_hash(catalogs):
        reasons.append("catalogs changed")
    return reasons


def load_predictor(
    table_path: str | Path | None = None,
    model_dir: str | Path = DEFAULT_MODEL_DIR,
    on_stale: Literal["refit", "refuse"] = "refit",
    accuracy_path: str | Path | None = None,
    catalogs: Catalogs | None = None,
    save_refit: bool = True,
) -> EaiPredictor:
    """Load the fitted predictor for a measured table, refitting or refusing when stale.

    Args:
        table_path: Measured CSV the predictions must reflect (default ``data/measured.csv``).
        model_dir: Directory written by ``eai fit`` (default ``models/``).
        on_stale: ``refit``: fit anew when the saved model is missing or was fit on other
            data (and save it when ``save_refit`` and the directory is writable);
            ``refuse``: raise instead.
        accuracy_path: Accuracy CSV (default ``data/accuracy.csv``).
        catalogs: Catalogs (default: the shipped ones).
        save_refit: Write a refitted model back to ``model_dir``.

    Returns:
        A predictor whose ``data_hash`` equals the table's SHA-256.

    Raises:
        ModelStateError: Stale or missing model with ``on_stale="refuse"``, or an unreadable state.
        DataSourceError: The table is missing.
    """
    if on_stale not in ("refit", "refuse"):
        raise ModelStateError(f"on_stale must be 'refit' or 'refuse', not {on_stale!r}")
    tpath = Path(table_path) if table_path is not None else _default_table()
    apath = Path(accuracy_path) if accuracy_path is not None else _default_accuracy()
    if not tpath.is_file():
        raise DataSourceError(f"table {str(tpath)!r} not found; run 'eai data import'")
    cats = catalogs if catalogs is not None else Catalogs.load()
    d = Path(model_dir)
    if not d.is_dir():
        # A mistyped --model-dir must not silently become a fresh model directory.
        raise ModelStateError(f"model directory {str(d)!r} does not exist; check the path or create it with 'eai fit --out {d}'")
    manifest_path, state_path = d / MANIFEST, d / STATE
    reasons: list[str]
    if manifest_path.is_file() and state_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelStateError(f"{manifest_path}: unreadable ({exc}); refit with 'eai fit'") from exc
        reasons = _stale_reasons(manifest, tpath, apath, cats)
    else:
        reasons = [f"no fitted model in {str(d)!r}"]
    if not reasons:
        state = _read_state(state_path, manifest)
        try:
            return EaiPredictor.from_state(state, cats)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelStateError(f"{state_path}: unreadable fitted state ({exc}); refit with 'eai fit'") from exc
    if on_stale == "refuse":
        raise ModelStateError("model is stale: " + "; ".join(reasons) + "; run 'eai fit' to refit")
    predictor = fit_from_files(tpath, apath, cats)
    if save_refit:
        try:
            save_predictor(predictor, d)
        except OSError as exc:
            # A read-only install still gets a fresh in-memory model; nothing stale is used.
            warnings.warn(f"refitted model not saved to {str(d)!r}: {exc}", RuntimeWarning, stacklevel=2)
    return predictor
