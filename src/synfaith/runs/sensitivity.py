"""Sensitivity of F_syn and of the explainer ranking to the metric's settings, from a finished run.

Reuses the attributions stored in the run's rows — no explainer runs again — and rebuilds
each instance's game (one greedy generation per instance for the target, then batched game
evaluations). For each setting, one parameter moves while the others stay at the run's values:

* K, the points of the step grid (default grid 5, 11, 21);
* the visual zero-state's blur radius, as a fraction of the image's longer side (1/16, 1/8, 1/4);
* C, the background players of the SII ground truth (2, 4, 6, 8).

Reported per setting: each explainer's mean F_syn, Kendall τ between the explainer ranking
and the ranking at the run's own settings, and the Spearman correlation of F_syn with the SII
ground truth (on the first ``sii_instances`` instances of each model × dataset).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from tqdm.auto import tqdm

from synfaith.analysis.rows import successful
from synfaith.contracts import ZeroState
from synfaith.explainers.base import Attribution
from synfaith.runs.config import parse_config
from synfaith.runs.pipeline import MetricPlan, score_instance
from synfaith.runs.store import RunStore


@dataclass
class SensitivityResult:
    """``values``: one line per (setting, row) with F_syn and SII; ``summary``: one line per setting."""

    values: pd.DataFrame
    summary: pd.DataFrame
    rankings: pd.DataFrame
    game_evaluations: int
    seconds: float


def _settings(steps_grid, blur_fractions, background_grid, defaults) -> list[tuple[str, float]]:
    settings = [("default", 0.0)]
    settings += [("steps", k) for k in steps_grid if k != defaults["steps"]]
    settings += [("blur", f) for f in blur_fractions if f != defaults["blur"]]
    settings += [("background_players", c) for c in background_grid if c != defaults["background_players"]]
    return settings


def sensitivity_analysis(
    run_dir: str | Path,
    steps_grid: Sequence[int] = (5, 11, 21),
    blur_fractions: Sequence[float] = (1 / 16, 1 / 8, 1 / 4),
    background_grid: Sequence[int] = (2, 4, 6, 8),
    sii_instances: int = 5,
    progress: bool = True,
) -> SensitivityResult:
    """Recompute F_syn (and SII on a subset) under each setting from the stored attributions."""
    from synfaith.runs.runner import load_adapter, open_sources

    start = time.perf_counter()
    store = RunStore(run_dir)
    config = parse_config(store.config())
    rows = successful(store.read_rows(), "fsyn")
    if rows.empty:
        raise ValueError(f"{run_dir} has no successful rows with F_syn to re-score")
    defaults = {"steps": config.metrics.steps, "blur": config.zero_state.blur, "background_players": config.metrics.background_players}
    settings = _settings(steps_grid, blur_fractions, background_grid, defaults)
    # the run's own game metrics before F_syn, so each coalition meets the cache as it did in the run
    first_pass = [m for m in config.metrics.compute if m in ("redundancy", "unimodal", "fsyn")]
    sources = {d.label: source for d, (source, _) in zip(config.datasets, open_sources(config))}
    lines, evaluations = [], 0
    for model_index, model_spec in enumerate(config.models):
        model_rows = rows[rows["model"] == model_spec.label]
        if model_rows.empty:
            continue
        adapter = load_adapter(config, model_index)
        for dataset, dataset_rows in model_rows.groupby("dataset"):
            instances = sorted(dataset_rows["instance_index"].unique())
            with_sii = set(instances[:sii_instances])
            for index in tqdm(instances, desc=f"sensitivity {model_spec.label} × {dataset}", disable=not progress):
                instance = sources[dataset].row(int(index))
                instance_rows = dataset_rows[dataset_rows["instance_index"] == index]
                stored = {row["explainer"]: StoredAttribution(row["explainer"], row["image_scores"], row["text_scores"]) for _, row in instance_rows.iterrows()}
                for parameter, value in settings:
                    metric_settings = config.metrics.model_dump() | {"steps": int(value) if parameter == "steps" else config.metrics.steps}
                    metric_settings["background_players"] = int(value) if parameter == "background_players" else config.metrics.background_players
                    zero_state = ZeroState(blur=float(value)) if parameter == "blur" else config.zero_state.value()
                    fsyn: dict[str, float] = {}
                    if parameter != "background_players":  # F_syn does not depend on C
                        plan = MetricPlan.build(first_pass, metric_settings, seed=config.seed, zero_state=zero_state)
                        scored = score_instance(adapter, instance, explainers=stored, plan=plan)
                        fsyn = {r["explainer"]: r.get("fsyn", np.nan) for r in scored}
                        evaluations += _evaluations(scored)
                    sii: dict[str, float] = {}
                    if index in with_sii:
                        plan = MetricPlan.build(["sii"], metric_settings, seed=config.seed, zero_state=zero_state)
                        scored = score_instance(adapter, instance, explainers=stored, plan=plan)
                        sii = {r["explainer"]: r.get("sii", np.nan) for r in scored}
                        evaluations += _evaluations(scored)
                    for _, row in instance_rows.iterrows():
                        lines.append(
                            {"parameter": parameter, "value": value, "model": model_spec.label, "dataset": dataset,
                             "instance_index": int(index), "explainer": row["explainer"], "fsyn": fsyn.get(row["explainer"], np.nan),
                             "sii": sii.get(row["explainer"], np.nan), "stored_fsyn": row["fsyn"]}
                        )
    values = pd.DataFrame(lines)
    summary, rankings = _summarise(values)
    return SensitivityResult(values, summary, rankings, evaluations, time.perf_counter() - start)


def _evaluations(rows: list[dict]) -> int:
    """What one scored instance cost (its one game's evaluations); failed rows raise."""
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"instance {failed[0].get('instance_id')!r} failed at {failed[0]['stage']}: {failed[0]['message']}")
    return int(rows[0].get("instance_evaluations", 0)) if rows else 0


class StoredAttribution:
    """Stands in for an explainer: returns the scores a run stored (no explainer runs again)."""

    requires = frozenset()

    def __init__(self, name: str, image_scores, text_scores) -> None:
        self.name = name
        self.image_scores = np.asarray(image_scores, dtype=np.float64)
        self.text_scores = np.asarray(text_scores, dtype=np.float64)

    def explain(self, model, prepared, target, *, game=None) -> Attribution:
        if self.image_scores.size != prepared.n_image_units or self.text_scores.size != prepared.n_text_units:
            raise ValueError(
                f"stored {self.name} scores have {self.image_scores.size} + {self.text_scores.size} values; the model "
                f"has {prepared.n_image_units} + {prepared.n_text_units} units (was the run made with another model?)"
            )
        return Attribution(self.name, self.image_scores, self.text_scores)


def _summarise(values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    default = values[values["parameter"] == "default"]
    default_means = default.groupby("explainer")["fsyn"].mean()
    default_rank = (-default_means).rank()
    lines, rankings = [], []
    for (parameter, value), part in values.groupby(["parameter", "value"], sort=False):
        # F_syn does not depend on C: its ranking there is the default's; SII changes
        means = part.groupby("explainer")["fsyn"].mean() if parameter != "background_players" else default_means
        rank = (-means).rank()
        common = rank.index.intersection(default_rank.index)
        tau, p = kendalltau(rank[common], default_rank[common]) if len(common) >= 2 else (np.nan, np.nan)
        paired = part.dropna(subset=["sii"])
        fsyn_for_sii = paired["fsyn"] if parameter != "background_players" else paired.merge(
            default[["model", "dataset", "instance_index", "explainer", "fsyn"]],
            on=["model", "dataset", "instance_index", "explainer"], suffixes=("_unused", ""),
        )["fsyn"].to_numpy()
        rho = spearmanr(fsyn_for_sii, paired["sii"])[0] if len(paired) > 2 else np.nan
        lines.append(
            {"parameter": parameter, "value": value, "kendall_tau_to_default": tau, "p_value": p,
             "fsyn_sii_spearman": rho, "sii_pairs": len(paired), "rows": len(part)}
        )
        rankings.append(pd.DataFrame({"parameter": parameter, "value": value, "mean_fsyn": means, "rank": rank}))
    return pd.DataFrame(lines), pd.concat(rankings).reset_index(names="explainer")


def write_sensitivity(result: SensitivityResult, out_dir: str | Path) -> list[Path]:
    """CSV files of the summary, rankings and per-row values."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("summary", result.summary), ("rankings", result.rankings), ("values", result.values)):
        path = out / f"sensitivity_{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths
