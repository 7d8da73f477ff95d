"""``synfaith.evaluate``: models × datasets × explainers × metrics from Python, as a results object.

:func:`evaluate` builds the run configuration ``synfaith run`` would build from the same
choices, runs it with :func:`synfaith.runs.run` (the same runner, rows, fingerprints and
resuming) into ``output_dir`` — or, when none is given, into a new temporary directory that
is **kept** (its path is :attr:`Evaluation.run_dir`; delete it when done) — and returns an
:class:`Evaluation`: the rows as a pandas DataFrame, a summary table and ``.report(path)``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

Spec = str | Mapping[str, Any]


def _entries(value: Spec | Sequence[Spec], what: str) -> list[Spec]:
    """One or several config entries as a list (a single string or mapping becomes a one-item list)."""
    if not isinstance(value, (list, tuple)):
        return [os.fspath(value) if isinstance(value, os.PathLike) else value]  # type: ignore[list-item]
    entries = list(value)
    if not entries:
        raise ValueError(f"evaluate: {what} is empty; give at least one")
    return entries


def _dataset_entry(entry: Spec, limit: int | float | None) -> dict[str, Any]:
    """``"kind"``, ``"kind:VALUE"`` (VALUE fills the loader's first option, e.g. a path; as ``--tasks``) or a mapping."""
    if isinstance(entry, Mapping):
        data = dict(entry)
    else:
        import inspect

        from synfaith.data import DATASETS

        kind, _, value = str(entry).partition(":")
        data = {"kind": kind}
        if value:
            first = next(iter(inspect.signature(DATASETS[kind]).parameters))
            data["options"] = {first: value}
    if limit is not None:
        data["limit"] = limit
    return data


def _model_entry(entry: Spec, device: str | None, batch_size: int | str | None) -> dict[str, Any]:
    if not isinstance(entry, (str, Mapping)):
        raise ValueError(f"evaluate: a model is a name ('toy'), a path, an endpoint URL or a models entry (a dict), got {type(entry).__name__}; "
                         "a loaded model cannot be sent to the runner, which loads each model itself")
    data = {"path": entry} if isinstance(entry, str) else dict(entry)
    if device is not None:
        data["device"] = device
    if batch_size is not None:
        data["batch_size"] = batch_size
    return data


def _default_metrics(models: list[dict[str, Any]]) -> list[str]:
    """Every registered metric but the exact SII, as a flag run chooses, less those a model cannot serve."""
    from synfaith.contracts import missing_capabilities
    from synfaith.metrics.registry import get_metric, metric_names
    from synfaith.models.loading import adapter_class_for

    names = [name for name in metric_names() if name != "sii"]
    for model in models:
        adapter_class = adapter_class_for(model["path"])
        if adapter_class is not None:
            names = [n for n in names if not missing_capabilities(get_metric(n).needs - {"probes"}, adapter_class.capabilities)]
    return names


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`: a run directory and its rows.

    Attributes:
        run_dir: the run directory (config, rows, ``results.json``); ``synfaith report RUN_DIR`` reads it too.
        rows: one row per (model, dataset, instance, explainer) — metric values, curves, attributions,
            answers and timings — as :meth:`synfaith.runs.RunStore.read_rows` gives them.
        rows_written, failures, skipped: what this call of :func:`evaluate` did (``skipped``: rows
            already in the directory with the same settings).
    """

    run_dir: Path
    rows: pd.DataFrame = field(repr=False, compare=False)
    rows_written: int = 0
    failures: int = 0
    skipped: int = 0

    @classmethod
    def open(cls, run_dir: str | Path) -> Evaluation:
        """The evaluation held in an existing run directory (e.g. one ``synfaith run`` wrote)."""
        from synfaith.runs.store import RunStore

        if not Path(run_dir).is_dir():
            raise FileNotFoundError(f"run directory not found: {run_dir}")
        return cls(Path(run_dir), RunStore(run_dir).read_rows())

    def summary(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Per (model, dataset, explainer) and metric column: ``mean``, ``sd``, the 95% t-interval
        ``ci_low``/``ci_high`` = mean ∓ t_{0.975, n−1}·sd/√n, and ``n``, over the ok rows (as in ``results.json``).

        ``columns`` default: every scalar metric column the rows hold (``fsyn``, ``visual_srg``, …).
        """
        from synfaith.metrics.registry import metric_names
        from synfaith.runs.results import metric_summary, scalar_columns

        if columns is None:
            columns = [c for c in scalar_columns(metric_names()) if c in self.rows and self.rows[c].notna().any()]
        return metric_summary(self.rows, list(columns))

    def report(self, path: str | Path | None = None, examples: str | Sequence[str] | None = None) -> Path:
        """Write the HTML report (figures, CSV tables) to ``path`` (default ``RUN_DIR/report``); returns ``index.html``."""
        from synfaith.report import write_report

        return write_report(self.run_dir, path, examples=list(examples) if examples is not None and not isinstance(examples, str) else examples)


def evaluate(
    model: Spec | Sequence[Spec] = "toy",
    dataset: Spec | Sequence[Spec] = "synthetic",
    explainers: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    metrics: Sequence[str] | None = None,
    *,
    limit: int | float | None = None,
    output_dir: str | Path | None = None,
    seed: int = 0,
    device: str | None = None,
    batch_size: int | str | None = None,
    progress: bool = False,
    rerun_changed: bool = False,
    **settings: Any,
) -> Evaluation:
    """Run a benchmark from Python and return its rows; the same runner as ``synfaith run``.

    Args:
        model: ``"toy"``, a checkpoint path, a hub name, an endpoint URL, or a ``models:`` entry
            (``{"path": …, "options": {…}}``); or a list of them.
        dataset: a dataset kind, ``"kind:VALUE"`` (as ``--tasks``: ``"jsonl:data.jsonl"``), a
            ``datasets:`` entry (``{"kind": "synthetic", "options": {"per_cell": 1}}``), or a list.
        explainers: registry names, or ``{name: options}`` (default: the paper's nine).
        metrics: metric names (default: every metric but the exact SII ``sii``, ≈35× F_syn's cost,
            less those the models cannot serve).
        limit: instances per dataset, or a fraction of each in (0, 1).
        output_dir: the run directory; running again with the same settings skips finished rows.
            None: a new temporary directory, kept after the call (see :attr:`Evaluation.run_dir`).
        seed: the run's seed.
        device, batch_size: override every model's (default: the config defaults, ``auto`` and 16).
        progress: progress bars.
        rerun_changed: rerun rows whose settings changed instead of refusing (see ``synfaith run --rerun-changed``).
        **settings: metric settings (``steps=11``, ``background_players=6``, …; see ``synfaith metrics list``).

    Raises:
        ConfigError: a choice the config refuses (the message names the field and the fix).
        RunSettingsChanged: ``output_dir`` holds rows of other settings and ``rerun_changed`` is False.
    """
    from synfaith.explainers.registry import PAPER_EXPLAINERS
    from synfaith.runs import parse_config, run

    models = [_model_entry(m, device, batch_size) for m in _entries(model, "model")]
    datasets = [_dataset_entry(d, limit) for d in _entries(dataset, "dataset")]
    if explainers is None:
        explainers = PAPER_EXPLAINERS
    if isinstance(explainers, str):
        explainers = [n for n in explainers.split(",") if n.strip()]
    if isinstance(explainers, Mapping):
        explainer_entries = [{"name": name, "options": dict(options or {})} for name, options in explainers.items()]
    else:
        explainer_entries = [{"name": str(name).strip()} for name in explainers]
    if isinstance(metrics, str):
        metrics = [n for n in metrics.split(",") if n.strip()]
    compute = list(metrics) if metrics is not None else _default_metrics(models)
    run_dir = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="synfaith-evaluate-"))
    config = parse_config({
        "output_dir": str(run_dir),
        "seed": seed,
        "models": models,
        "datasets": datasets,
        "explainers": explainer_entries,
        "metrics": {"compute": compute, **settings},
        "execution": {"progress": progress},
    }, "synfaith.evaluate")
    summary = run(config, rerun_changed=rerun_changed)
    from synfaith.runs.store import RunStore

    return Evaluation(run_dir, RunStore(run_dir).read_rows(), summary.rows_written, summary.failures, summary.skipped)
