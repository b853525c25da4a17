"""The layers stay apart: recommender never pulls in the measurement stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "pynvml", "bitsandbytes", "accelerate", "lm_eval"}
CLUSTER_AND_ENGINES = {"ray", "vllm", "llama_cpp", "zeus"}
"""Optional extras of the profiler: never imported by recommender/, at module level or inside functions."""


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


def _all_imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a file (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
                "import_module", "__import__"} and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_recommender_never_imports_cluster_or_engine_packages() -> None:
    offenders = []
    for path in sorted((ROOT / "recommender").rglob("*.py")):
        bad = _all_imports(path) & CLUSTER_AND_ENGINES
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "recommender/ must not import ray, vllm, llama_cpp or zeus:\n" + "\n".join(offenders)


def test_the_layering_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import ray.util\n    from vllm import LLM\n    importlib.import_module('zeus.monitor')\n")
    assert _all_imports(probe) >= {"ray", "vllm", "zeus"}


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
        f"heavy = sorted(m for m in {sorted(HEAVY | CLUSTER_AND_ENGINES)!r} if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"heavy modules loaded at CLI start: {out.stdout.strip()}"
