"""Regenerate the worked examples and the "Where eai stands" table of README.md and docs/ from real runs.

Run (one command, from the repository root, after `eai fit` / a merge):

    .venv/bin/python bench/readme_figures.py            # examples + every bench (minutes)
    .venv/bin/python bench/readme_figures.py --only examples   # the three examples (seconds)
    .venv/bin/python bench/readme_figures.py --check    # exit 1 if a file would change
    .venv/bin/python bench/readme_figures.py --check --only examples   # the same for the examples alone

The examples are deterministic for a given model and table; the benches' timings move from run to
run, so a full ``--check`` reports the table as changed after any rerun.

Every block between ``<!-- readme_figures:NAME -->`` and ``<!-- /readme_figures -->`` in the
files this script keeps (:data:`FILES`: README.md, docs/flow.md) is replaced by what it produces:

- ``example-flags`` (README, kept short for a newcomer), ``example-spec``, ``example-matrix``
  (docs/flow.md): the command line and its output, run through ``python -m recommender.cli``
  at 80 columns (``COLUMNS=80``), exactly as a user would see it piped; long explanations keep
  their first sections and say how many lines were left out. ``eai matrix`` writes to a
  temporary file, never over the shipped ``data/decision_matrix.md``.
- ``stands``: one row per goal, with the figure each bench script printed on this
  machine (and the bench that printed it). A bench whose output no longer has the line
  this script reads fails the run, naming the bench, instead of leaving a stale figure.

Exit status: 0 written (or unchanged with ``--check``), 1 a file differs under
``--check``, 2 a bench or example failed to run or print what is read from it. Missed
goals are reported in the table, not as a failure: the README says where eai stands.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FILES = (README, ROOT / "docs" / "flow.md")
"""Files whose blocks this script rewrites: the README (short) and the page the longer examples live on."""
WIDTH = 80
"""Columns the examples are laid out for (the README is read in an 80-column pane)."""

BLOCK = re.compile(r"(<!-- readme_figures:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /readme_figures -->)", re.S)


class FigureError(RuntimeError):
    """A bench or example did not run, or did not print what the README needs."""


# -- worked examples ------------------------------------------------------------------------

SPEC = """{
  "scenario": "edge",
  "tasks": [{"id": "gsm8k", "weight": 2}, "arc_challenge"],
  "hardware": {"power_cap_w": 200},
  "latency_s_max": 20,
  "priority": "energy",
  "top_k": 3
}"""
"""The spec piped in the second example: edge box, two tasks, a power cap and a latency limit."""

KEEP_SECTIONS = ("Recommended:", "Decided by:", "Confidence:", "Accuracy basis:", "Runner-up:")
"""Explanation sections an example in docs/ keeps; the others are counted in a "left out" line."""
README_SECTIONS = ("Recommended:", "Decided by:")
"""The README's one example keeps only the pick and why (the README is a newcomer's first page)."""


def _eai(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "recommender.cli", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900,
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def _shorten(text: str, keep: tuple[str, ...] = KEEP_SECTIONS) -> str:
    """The table and the explanation sections that start with one of ``keep``; the rest counted, not shown."""
    lines = text.rstrip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Recommended:")), None)
    if start is None:
        return "\n".join(lines)
    table = lines[:start]
    while table and not table[-1]:
        table.pop()
    sections: list[list[str]] = []
    for line in lines[start:]:
        if line and not line.startswith(" ") or not sections:
            sections.append([])
        sections[-1].append(line)
    kept: list[str] = []
    dropped: list[str] = []
    n_dropped = 0
    for sec in sections:
        if sec[0].startswith(keep):
            kept.extend(sec)
        else:
            dropped.append(sec[0].split(":")[0].split(";")[0][:40])
            n_dropped += len(sec)
    if n_dropped:
        note = f"[... {n_dropped} more lines: {', '.join(dropped)}]"
        kept.extend(textwrap.wrap(note, WIDTH, break_long_words=False, break_on_hyphens=False))
    return "\n".join([*table, "", *kept])


def _shown(command: str, code: int, out: str, err: str, keep: tuple[str, ...] = KEEP_SECTIONS) -> str:
    body = [f"$ {command}"]
    if out.strip():
        body.append(_shorten(out, keep))
    if err.strip():
        body.append(err.rstrip("\n"))
    if code != 0:
        body.append(f"$ echo $?\n{code}")
    return "```text\n" + "\n".join(body) + "\n```\n"


def example_flags() -> str:
    args = ["recommend", "--scenario", "data-center", "--task", "mmlu", "--min-accuracy", "0.65", "--priority", "energy", "--top-k", "2"]
    code, out, err = _eai(args)
    if code not in (0, 3):
        raise FigureError(f"example-flags: eai {' '.join(args)} exited {code}: {err.strip()}")
    return _shown("eai " + " ".join(args), code, out, err, README_SECTIONS)


def example_spec() -> str:
    code, out, err = _eai(["recommend", "-"], stdin=SPEC)
    if code not in (0, 3):
        raise FigureError(f"example-spec: eai recommend - exited {code}: {err.strip()}")
    return _shown(f"cat <<'EOF' | eai recommend -\n{SPEC}\nEOF", code, out, err)


def example_matrix() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "decision_matrix.md"
        code, out, err = _eai(["matrix", "--format", "markdown", "--out", str(target)])
        if code != 0:
            raise FigureError(f"example-matrix: eai matrix exited {code}: {err.strip()}")
        text = target.read_text(encoding="utf-8")
    lines = text.splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    if not table:
        raise FigureError("example-matrix: the matrix has no markdown table")
    shown = lines[: table[0] + 8]
    rest = len(lines) - len(shown)
    body = "\n".join(
        [
            "$ eai matrix --format markdown --out data/decision_matrix.md",
            "$ head -n %d data/decision_matrix.md" % len(shown),
            *shown,
        ]
    )
    return "```text\n" + body + "\n```\n" + (f"\n({rest} more lines in the file: the other cells, the study's matrix, the notes.)\n" if rest > 0 else "")


# -- where eai stands -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """One bench script and how its printed figures become README rows.

    Attributes:
        script: Path under ``bench/``.
        args: Extra arguments.
        rows: Function output text -> [(goal, measured, verdict)]; raises FigureError when a
            line it needs is missing.
    """

    script: str
    args: tuple[str, ...]
    rows: Callable[[str], list[tuple[str, str, str]]]


def _need(pattern: str, text: str, bench: str) -> re.Match[str]:
    m = re.search(pattern, text, re.M)
    if m is None:
        raise FigureError(f"{bench}: no line matches {pattern!r}; update bench/readme_figures.py to its new output")
    return m


def _regressor_rows(text: str) -> list[tuple[str, str, str]]:
    rows = [
        (goal.strip(), value, "met" if verdict == "met" else "missed")
        for verdict, goal, value in re.findall(r"^\s*\[(met|MISSED)\]\s*(.+?):\s*([-+0-9.eE]+)\s*$", text, re.M)
    ]
    if not rows:
        raise FigureError("regressor_accuracy.py: printed no '[met]' / '[MISSED]' goal lines")
    return rows


def _speed_rows(text: str) -> list[tuple[str, str, str]]:
    fit = _need(r"^fit \(.*\): ([0-9.]+) s", text, "fit_predict_speed.py")
    pred = _need(r"^predict ([0-9,]+) candidate rows: ([0-9.]+) s wall", text, "fit_predict_speed.py")
    goals = _need(r"^goals: fit < 30 s (met|MISSED); predict 1M < 2 s (met|MISSED)", text, "fit_predict_speed.py")
    return [
        ("fit the predictor < 30 s", f"{fit.group(1)} s", goals.group(1).lower()),
        (f"predict {pred.group(1)} candidates < 2 s", f"{pred.group(2)} s", goals.group(2).lower()),
    ]


def _evaluate_speed_rows(text: str) -> list[tuple[str, str, str]]:
    rows = [(goal, value, "met" if v == "met" else "missed") for v, goal, value in re.findall(r"^\[(met|MISSED)\] (.+?): ([0-9.]+ s)$", text, re.M)]
    if len(rows) != 2:
        raise FigureError("evaluate_speed.py: expected two '[met]' / '[MISSED]' goal lines (`eai fit`, `eai evaluate`)")
    return rows


def _startup_rows(text: str) -> list[tuple[str, str, str]]:
    m = _need(r"^ratio \(median eai / median reference\): ([0-9.]+)\s+\(target < 1.5: (met|NOT met)\)", text, "recommend_speed.py")
    return [("`eai recommend` start-up < 1.5x `import sklearn, pandas`", f"{m.group(1)}x", "met" if m.group(2) == "met" else "missed")]


def _report_rows(text: str) -> list[tuple[str, str, str]]:
    m = _need(r"^median build time over \d+ runs: ([0-9.]+) s", text, "report_build.py")
    s = float(m.group(1))
    return [("`eai report` builds < 10 s", f"{s:.1f} s", "met" if s < 10 else "missed")]


def _monitor_rows(text: str) -> list[tuple[str, str, str]]:
    # Paired main-thread slowdown with its 95% CI and a PASS / FAIL / INCONCLUSIVE verdict
    # at the default rate (the first rate listed per workload) ...
    paired = re.findall(r"^\s*([0-9.]+) Hz: main-thread slowdown\s+([-+][0-9.]+)% \(95% CI ([-+][0-9.]+) \.\. ([-+][0-9.]+)%\)", text, re.M)
    if paired:
        verdict = re.search(r"^(PASS|FAIL|INCONCLUSIVE)\b", text, re.M)
        if verdict is None:
            raise FigureError("monitor_overhead.py: no PASS / FAIL / INCONCLUSIVE line")
        hz = paired[0][0]
        worst = max((row for row in paired if row[0] == hz), key=lambda row: float(row[3]))
        measured = f"{float(worst[1]):+.2f} % (95 % CI {float(worst[2]):+.2f} .. {float(worst[3]):+.2f} %), worst workload"
        word = {"PASS": "met", "FAIL": "missed", "INCONCLUSIVE": "inconclusive"}[verdict.group(1)]
        return [(f"sampled-meter main-thread slowdown < 1 % (fake GPU, {hz} Hz, sampling process)", measured, word)]
    # ... or, from the older bench, the sampler thread's CPU share of wall time.
    m = _need(r"^\s*20 Hz: thread CPU\s+([0-9.]+)% of wall.*$", text, "monitor_overhead.py")
    share = float(m.group(1))
    verdict = "met" if share < 1 else "missed"
    if "UNRELIABLE" in m.group(0):  # the bench's own flag: plain runs varied more than any overhead
        verdict = "unreliable (machine busy)"
    return [("sampled-meter overhead < 1 % of wall time (fake GPU, 20 Hz)", f"{share:.2f} %", verdict)]


def _answer_length_rows(text: str) -> list[tuple[str, str, str]]:
    m = _need(r"^all (\d+) pairs: task length ([0-9.]+) %, model-relative ([0-9.]+) %", text, "answer_length.py")
    verdict = "met" if float(m.group(3)) < float(m.group(2)) else "missed"
    return [(f"held-out output length per model x task, median APE %: model's relative length below the task's ({m.group(2)}, n={m.group(1)})",
             m.group(3), verdict)]


def _anchor_rows(text: str) -> list[tuple[str, str, str]]:
    rows = []
    for q in ("energy", "time"):
        m = _need(rf"^\s*{q}\s+per query: without anchor\s+([0-9.]+) /\s+[0-9.]+\s+with anchor\s+([0-9.]+) /", text, "anchor_accuracy.py")
        verdict = "met" if float(m.group(2)) <= float(m.group(1)) else "missed"
        rows.append((f"held-out batches of measured deployments, {q}/query median APE %: anchored no worse than the model alone ({m.group(1)})",
                     m.group(2), verdict))
    return rows


def _gpu_holdout_rows(text: str) -> list[tuple[str, str, str]]:
    m = _need(r"^all (\d+) rows: worst ratio ([0-9.]+)x \(goal <= ([0-9.]+)x\), (\d+) outside their intervals: (met|missed)", text,
              "gpu_holdout.py")
    return [(f"eai's own GPU rows, platform held out: worst energy/time ratio <= {m.group(3)}x, inside the 90 % intervals (n={m.group(1)})",
             f"{m.group(2)}x, {m.group(4)} outside", m.group(5))]


BENCHES = (
    Bench("regressor_accuracy.py", ("--no-ablations",), _regressor_rows),  # ablations: docs/model.md
    Bench("answer_length.py", (), _answer_length_rows),
    Bench("anchor_accuracy.py", (), _anchor_rows),
    Bench("gpu_holdout.py", (), _gpu_holdout_rows),
    Bench("fit_predict_speed.py", (), _speed_rows),
    Bench("evaluate_speed.py", (), _evaluate_speed_rows),
    Bench("recommend_speed.py", (), _startup_rows),
    Bench("report_build.py", (), _report_rows),
    Bench("monitor_overhead.py", (), _monitor_rows),
)


def _machine() -> str:
    """This machine in words: CPU architecture, core count and GPUs (from nvidia-smi, if any)."""
    gpus = "no GPU"
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
        names = [n.strip() for n in proc.stdout.splitlines() if n.strip()]
        if proc.returncode == 0 and names:
            gpus = ", ".join(f"{names.count(n)}x {n}" for n in dict.fromkeys(names))
    load = f", load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else ""
    return f"{platform.machine()}, {os.cpu_count()} cores, {gpus}{load}"


BENCH_TIMEOUT_S = 3600
"""Longest one bench may run (``--timeout``); the cross-validation refits the model per fold."""


def stands(timeout_s: float = BENCH_TIMEOUT_S) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for bench in BENCHES:
        start = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / bench.script), *bench.args],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout_s,
        )  # fmt: skip
        took = time.perf_counter() - start
        print(f"  bench/{bench.script}: exit {proc.returncode}, {took:.0f} s", file=sys.stderr)
        try:
            found = bench.rows(proc.stdout)
        except FigureError as exc:
            raise FigureError(f"{exc} (exit {proc.returncode}; stderr: {proc.stderr.strip()[-300:]})") from None
        rows.extend((g, v, verdict, bench.script) for g, v, verdict in found)
    met = sum(1 for r in rows if r[2] == "met")
    lines = [
        f"{met} of {len(rows)} goals met, measured by `bench/` scripts on {_machine()}"
        f" on {time.strftime('%Y-%m-%d')} (`python bench/readme_figures.py` reruns them).",
        "",
        "| goal | measured | | bench |",
        "|---|---|---|---|",
        *(f"| {g} | {v} | {verdict} | `{script}` |" for g, v, verdict, script in rows),
    ]
    return "\n".join(lines) + "\n"


# -- README rewriting -----------------------------------------------------------------------

PRODUCERS: dict[str, Callable[[], str]] = {
    "example-flags": example_flags,
    "example-spec": example_spec,
    "example-matrix": example_matrix,
    "stands": stands,
}


def rewrite(text: str, produced: dict[str, str]) -> str:
    """README text with each named block's body replaced."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in produced:
            return m.group(0)
        return m.group(1) + produced[name] + m.group(4)

    return BLOCK.sub(sub, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("examples", "stands"), help="Regenerate only these blocks.")
    parser.add_argument("--check", action="store_true", help="Do not write; exit 1 if a file would change.")
    parser.add_argument(
        "--file", dest="files", type=Path, action="append",
        help="A file whose blocks are rewritten (repeatable; default: README.md and docs/flow.md).",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=BENCH_TIMEOUT_S, help="Seconds one bench may run.")
    args = parser.parse_args(argv)

    texts = {path: path.read_text(encoding="utf-8") for path in (args.files or FILES)}
    present = {m.group("name") for text in texts.values() for m in BLOCK.finditer(text)}
    wanted = [n for n in PRODUCERS if n in present and (args.only is None or (n == "stands") == (args.only == "stands"))]
    missing = set(PRODUCERS) - present
    if missing:
        print(f"no block in {', '.join(str(p) for p in texts)} for: {', '.join(sorted(missing))}", file=sys.stderr)
    produced: dict[str, str] = {}
    try:
        for name in wanted:
            print(f"{name} ...", file=sys.stderr)
            produced[name] = stands(args.timeout) if name == "stands" else PRODUCERS[name]()
    except (FigureError, subprocess.TimeoutExpired) as exc:
        print(f"readme_figures: {exc}", file=sys.stderr)
        return 2
    changed = [path for path, text in texts.items() if rewrite(text, produced) != text]
    if args.check:
        print(f"differs from what the tools print now: {', '.join(map(str, changed))}" if changed else "up to date")
        return 1 if changed else 0
    for path in changed:
        path.write_text(rewrite(texts[path], produced), encoding="utf-8")
    print(f"wrote {', '.join(wanted)} into {', '.join(map(str, changed)) or 'nothing (unchanged)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
