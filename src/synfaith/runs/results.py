"""``results.json`` and per-sample JSON lines: a run's numbers as numbers, with what produced them.

``RUN_DIR/results.json`` (rewritten atomically at the end of every run, over all the rows the
directory holds)::

    {"synfaith": "0.1.0", "date": "2026-…Z", "git_hash": "…" | null, "git_dirty": false | null,
     "python": "3.11.9", "platform": "…", "versions": {"torch": "…", …},
     "config": {…the resolved config, secrets as ***…},
     "plugins": {"my_plugin": {"file": "/…/my_plugin.py", "sha256": "…"}},
     "last_run": {"rows_written": 4, "failures": 0, "skipped": 0, "units": 1, "seconds": 9.1},
     "rows": {"total": 4, "ok": 4, "failed": 0}, "interval": "95% Student t interval …",
     "results": {MODEL: {DATASET: {"instances": 2, "accuracy": STATS,
                                   "instance_metrics": {COLUMN: STATS, …},
                                   "explainers": {EXPLAINER: {COLUMN: STATS, …}}}}}}

where ``STATS = {"mean", "sd", "ci_low", "ci_high", "n"}``, all numbers (null where undefined;
see :func:`describe_values`); instance metrics (the redundancy profile) count each instance once. ``--log_samples`` adds ``RUN_DIR/samples/MODEL__DATASET.jsonl``:
one JSON object per instance with its question, answers and every explainer's scalar values
(:func:`write_samples`); attributions and curves stay in the Parquet rows.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synfaith.secrets import redact

SCALAR_TYPES = ("float", "int", "bool")
STAT_COLUMNS = ("mean", "sd", "ci_low", "ci_high", "n")
CONFIDENCE = 0.95
INTERVAL = "95% Student t interval over the ok rows: mean ± t(0.975, n−1) · sd / √n (sd with ddof 1; null below n = 2)"


def _number(value: Any) -> float | int | None:
    """A JSON number, or None for NaN / infinity / missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def describe_values(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{mean, sd, ci_low, ci_high, n}`` of the finite values.

    ``sd`` is the sample standard deviation (ddof = 1) and the interval is Student's t
    interval ``mean ± t_{0.975, n−1} · sd / √n``; both are None below two values.
    """
    from scipy.stats import t

    array = np.asarray([float(v) for v in values if v is not None], dtype=float)
    array = array[np.isfinite(array)]
    n = int(array.size)
    mean = float(array.mean()) if n else None
    sd = float(array.std(ddof=1)) if n > 1 else None
    low = high = None
    if n > 1:
        half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return {"mean": _number(mean), "sd": _number(sd), "ci_low": _number(low), "ci_high": _number(high), "n": n}


def metric_summary(rows: pd.DataFrame, columns: Sequence[str], by: Sequence[str] = ("model", "dataset", "explainer")) -> pd.DataFrame:
    """One row per group and value column: ``[*by, metric, mean, sd, ci_low, ci_high, n]`` (numbers, see :func:`describe_values`).

    Only rows with ``status == "ok"`` count; a column absent from ``rows`` is skipped.
    """
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    records = []
    present = [c for c in columns if c in ok.columns]
    for key, part in ok.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for column in present:
            stats = describe_values(pd.to_numeric(part[column], errors="coerce"))
            if stats["n"]:
                records.append({**dict(zip(by, key)), "metric": column, **stats})
    return pd.DataFrame.from_records(records, columns=[*by, "metric", *STAT_COLUMNS])


def scalar_columns(metric_names: Sequence[str], scope: str = "attribution") -> list[str]:
    """The scalar value columns (float, int, bool) of the named metrics of one scope.

    ``scope="attribution"`` adds ``explain_seconds``; ``"instance"`` metrics (the redundancy
    profile) hold one value per instance, the same in every explainer's row.
    """
    from synfaith.metrics.registry import METRICS

    columns = []
    for name in metric_names:
        if name in METRICS and METRICS[name].scope == scope:
            columns += [c.name for c in METRICS[name].columns if c.type in SCALAR_TYPES and c.kind == "value"]
    return [*dict.fromkeys(columns), *(["explain_seconds"] if scope == "attribution" else [])]


def git_revision() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the synfaith source tree when it is a git checkout, else ``(None, None)``; never raises.

    The package's own ``__init__.py`` must be tracked by that repository (a site-packages install
    inside some other repository is not a checkout of synfaith). ``dirty``: tracked files under
    the package differ from the commit. No git command here writes anything (optional locks off).
    """
    import synfaith

    package = Path(synfaith.__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(package), *args], capture_output=True, text=True, timeout=10,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )

    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return None, None
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, None
        dirty = git("diff", "--quiet", "HEAD", "--", ".").returncode
        return head.stdout.strip() or None, None if dirty not in (0, 1) else bool(dirty)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None, None


def _write_atomically(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def results_document(
    rows: pd.DataFrame, config: Mapping[str, Any], *, last_run: Mapping[str, Any] | None = None, plugins: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The content of ``results.json`` (see the module docstring) from a run's rows and resolved config."""
    from synfaith import __version__
    from synfaith.runs.store import environment

    compute = list((config.get("metrics") or {}).get("compute") or [])
    per_instance, per_attribution = scalar_columns(compute, "instance"), scalar_columns(compute, "attribution")
    summary = metric_summary(rows, per_attribution)
    results: dict[str, Any] = {}
    for (model, dataset), part in rows.groupby(["model", "dataset"], sort=True):
        instances = part.sort_values("status", key=lambda s: s != "ok", kind="stable").drop_duplicates("instance_id")
        cell = {
            "instances": int(len(instances)),
            "accuracy": describe_values(instances["correct"].dropna().astype(float)),
            "instance_metrics": {r.metric: {k: _number(getattr(r, k)) for k in STAT_COLUMNS}
                                 for r in metric_summary(instances, per_instance, ("model",)).itertuples()},
            "explainers": {},
        }
        mine = summary[(summary["model"] == model) & (summary["dataset"] == dataset)]
        for explainer in sorted(part["explainer"].unique()):
            own = mine[mine["explainer"] == explainer]
            cell["explainers"][explainer] = {r.metric: {k: _number(getattr(r, k)) for k in STAT_COLUMNS} for r in own.itertuples()}
        results.setdefault(model, {})[dataset] = cell
    commit, dirty = git_revision()
    env = environment()
    status = rows["status"] if "status" in rows else pd.Series(dtype=str)
    document = {
        "synfaith": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_hash": commit,
        "git_dirty": dirty,
        "python": env["python"],
        "platform": env["platform"],
        "cuda": env["cuda"],
        "versions": env["versions"],
        "config": dict(config),
        "plugins": dict(plugins or {}),
        "last_run": dict(last_run or {}),
        "rows": {"total": int(len(rows)), "ok": int((status == "ok").sum()), "failed": int((status == "failed").sum())},
        "interval": INTERVAL,
        "results": results,
    }
    return redact(document)


def write_results(run_dir: str | Path, rows: pd.DataFrame, config: Mapping[str, Any], **parts: Any) -> Path:
    """Write ``RUN_DIR/results.json`` atomically (see :func:`results_document` for ``parts``); returns its path."""
    document = results_document(rows, config, **parts)
    return _write_atomically(Path(run_dir) / "results.json", json.dumps(document, indent=2, allow_nan=False, default=_number))


def _scalar(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return _number(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if value is None or (not isinstance(value, (str, int)) and pd.isna(value)):
        return None
    return value


def sample_records(rows: pd.DataFrame, attribution_columns: Sequence[str], instance_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One record per (model, dataset, instance): its question and answers, ``instance_columns`` once,
    and under ``explainers`` each explainer's status, ``attribution_columns`` and text scores."""
    records = []
    for (model, dataset, instance_id), part in rows.groupby(["model", "dataset", "instance_id"], sort=False):
        first = part.iloc[0]
        meta = first.get("meta")
        record = {
            "model": model, "dataset": dataset, "instance_id": instance_id,
            **{c: _scalar(first.get(c)) for c in ("instance_index", "question", "reference_answer", "response", "answer", "correct")},
            "meta": json.loads(meta) if isinstance(meta, str) and meta else None,
            "text_units": None if first.get("text_units") is None else [str(t) for t in first["text_units"]],
        }
        record |= {c: _scalar(first.get(c)) for c in instance_columns if c in part.columns}
        record["explainers"] = {
            str(row["explainer"]): {
                **{c: _scalar(row.get(c)) for c in ("status", "stage", "message")},
                **{c: _scalar(row.get(c)) for c in attribution_columns if c in part.columns},
                "text_scores": None if row.get("text_scores") is None else [_number(v) for v in row["text_scores"]],
            }
            for _, row in part.iterrows()
        }
        records.append(record)
    return sorted(records, key=lambda r: (r["model"], r["dataset"], r["instance_index"] if r["instance_index"] is not None else -1))


def write_samples(run_dir: str | Path, rows: pd.DataFrame, metric_names: Sequence[str]) -> list[Path]:
    """Write ``RUN_DIR/samples/MODEL__DATASET.jsonl`` (one line per instance, see :func:`sample_records`); returns the paths."""
    from synfaith.metrics.registry import METRICS

    instance_columns, attribution_columns = [], []
    for name in metric_names:
        if name in METRICS:
            metric = METRICS[name]
            names = [c.name for c in metric.columns if c.type in SCALAR_TYPES or c.type == "str"]
            (instance_columns if metric.scope == "instance" else attribution_columns).extend(names)
    attribution_columns.append("explain_seconds")
    paths = []
    for (model, dataset), part in rows.groupby(["model", "dataset"], sort=True):
        lines = [json.dumps(redact(r), allow_nan=False, ensure_ascii=False) for r in sample_records(part, attribution_columns, instance_columns)]
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{model}__{dataset}")
        paths.append(_write_atomically(Path(run_dir) / "samples" / f"{safe}.jsonl", "\n".join(lines) + "\n"))
    return paths
