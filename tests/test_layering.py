"""The layers stay apart: recommender never pulls in the measurement stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "pynvml", "bitsandbytes", "accelerate", "lm_eval"}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        stmts = [node]
        if isinstance(node, ast.If | ast.Try):
            stmts = list(ast.walk(node))
        for stmt in stmts:
            if isinstance(stmt, ast.Import):
                names.update(alias.name.split(".")[0] for alias in stmt.names)
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                names.add(stmt.module.split(".")[0])
    return names


def test_recommender_modules_do_not_import_heavy_stack_at_module_level() -> None:
    offenders = []
    for path in sorted((ROOT / "recommender").rglob("*.py")):
        bad = _module_level_imports(path) & (HEAVY | {"profiler"})
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "recommender/ must not import the measurement stack:\n" + "\n".join(offenders)


def test_only_the_nvml_module_imports_pynvml() -> None:
    importers = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", ".venv-run", "tests", "build"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "pynvml" for a in node.names):
                importers.append(str(rel))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pynvml":
                importers.append(str(rel))
    assert set(importers) <= {"profiler/hardware/nvml.py"}, importers


def test_cli_startup_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from recommender.cli import build_app\n"
        "build_app()\n"
        f"heavy = sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"heavy modules loaded at CLI start: {out.stdout.strip()}"
