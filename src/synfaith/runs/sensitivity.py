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
from synfaith.metrics import sii_ground_truth, synergistic_faithfulness
from synfaith.runs.config import parse_config
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
    defaults = {
        "steps": config.metrics.steps,
        "blur": 1 / 8 if config.metrics.blur_radius is None else None,
        "background_players": config.metrics.background_players,
    }
    settings = _settings(steps_grid, blur_fractions, background_grid, defaults)
    sources = {d.label: source for d, (source, _) in zip(config.datasets, open_sources(config))}
    lines, evaluations = [], 0
    for model_index, model_spec in enumerate(config.models):
        model_rows = rows[rows["model"] == model_spec.label]
        if model_rows.empty:
            continue
        adapter = load_adapter(config, model_index)
        default_blur = adapter.blur_radius
        for dataset, dataset_rows in model_rows.groupby("dataset"):
            instances = sorted(dataset_rows["instance_index"].unique())
            with_sii = set(instances[:sii_instances])
            for index in tqdm(instances, desc=f"sensitivity {model_spec.label} × {dataset}", disable=not progress):
                instance = sources[dataset].row(int(index))
                instance_rows = dataset_rows[dataset_rows["instance_index"] == index]
                adapter.blur_radius = default_blur
                prepared = adapter.prepare(instance)
                target = adapter.generate_target(prepared)
                for parameter, value in settings:
                    if parameter == "blur":
                        adapter.blur_radius = value * max(prepared.image_size)
                        this = adapter.prepare(instance)
                        adapter.blur_radius = default_blur
                    else:
                        this = prepared
                    steps = int(value) if parameter == "steps" else config.metrics.steps
                    background = int(value) if parameter == "background_players" else config.metrics.background_players
                    for _, row in instance_rows.iterrows():
                        game = adapter.game(this, target)
                        image, text = np.asarray(row["image_scores"]), np.asarray(row["text_scores"])
                        fsyn = synergistic_faithfulness(game, image, text, steps).score if parameter != "background_players" else np.nan
                        sii = np.nan
                        if index in with_sii:
                            sii = sii_ground_truth(game, image, text, steps, background_players=background, seed=config.seed).score
                        evaluations += game.evaluations
                        lines.append(
                            {"parameter": parameter, "value": value, "model": model_spec.label, "dataset": dataset,
                             "instance_index": int(index), "explainer": row["explainer"], "fsyn": fsyn, "sii": sii,
                             "stored_fsyn": row["fsyn"]}
                        )
    values = pd.DataFrame(lines)
    summary, rankings = _summarise(values)
    return SensitivityResult(values, summary, rankings, evaluations, time.perf_counter() - start)


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
