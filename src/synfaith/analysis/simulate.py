"""Result rows with planted effects, for testing the analyses and timing them at full scale."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# The benchmark's ten explainers; with the defaults below and 1,111 instances per dataset: 3 models ×
# 3 datasets × 10 explainers × 1,111 = 99,990 rows, the paper's scale.
PAPER_EFFECTS = {
    "random": 0.0, "input_gradients": 0.01, "integrated_gradients": 0.02, "gradcam": 0.015, "rollout": 0.05,
    "grad_rollout": 0.04, "attnlrp": 0.06, "llava_cam": 0.01, "tam": 0.005, "multishap": 0.03,
}


def simulated_rows(
    explainer_effects: Mapping[str, float],
    *,
    models: int = 3,
    datasets: int = 3,
    instances_per_dataset: int = 100,
    instance_sd: float = 0.1,
    model_sd: float = 0.05,
    dataset_sd: float = 0.05,
    noise_sd: float = 0.05,
    seed: int = 0,
    drop_share: float = 0.0,
) -> pd.DataFrame:
    """Rows with ``fsyn = effect[explainer] + u_instance + u_model + u_dataset + ε``.

    ``u_instance ~ N(0, instance_sd²)`` per (dataset, instance), shared by every model and
    explainer; ``u_model ~ N(0, model_sd²)``, ``u_dataset ~ N(0, dataset_sd²)``, ``ε ~ N(0,
    noise_sd²)``. A zero sd plants a zero variance. Every instance is scored by every model and
    explainer (the benchmark's crossed design); ``drop_share`` then removes that share of rows at
    random (seeded), as failed explainer runs would, for an unbalanced table. The unimodal
    columns are filled with ``visual = effect + noise`` and ``textual = −effect + noise`` (a
    planted, complete disagreement between the modalities), and ``sii = fsyn + small noise``.
    """
    for name, count in (("models", models), ("datasets", datasets), ("instances_per_dataset", instances_per_dataset)):
        if int(count) < 1:
            raise ValueError(f"{name} must be at least 1; got {count}")
    for name, sd in (("instance_sd", instance_sd), ("model_sd", model_sd), ("dataset_sd", dataset_sd), ("noise_sd", noise_sd)):
        if not sd >= 0:
            raise ValueError(f"{name} must be a standard deviation ≥ 0; got {sd}")
    if not 0 <= drop_share < 1:
        raise ValueError(f"drop_share must lie in [0, 1); got {drop_share}")
    rng = np.random.default_rng(seed)
    names = list(explainer_effects)
    effects = np.array([explainer_effects[n] for n in names])
    model_effects = rng.normal(0, model_sd, models)
    dataset_effects = rng.normal(0, dataset_sd, datasets)
    frames = []
    for d in range(datasets):
        instance_effects = rng.normal(0, instance_sd, instances_per_dataset)
        for m in range(models):
            n = instances_per_dataset * len(names)
            instance = np.repeat(np.arange(instances_per_dataset), len(names))
            explainer = np.tile(np.arange(len(names)), instances_per_dataset)
            base = effects[explainer] + instance_effects[instance] + model_effects[m] + dataset_effects[d]
            fsyn = base + rng.normal(0, noise_sd, n)
            frames.append(
                pd.DataFrame(
                    {
                        "model": f"model-{m}",
                        "dataset": f"dataset-{d}",
                        "instance_id": [f"i{i}" for i in instance],
                        "explainer": np.array(names)[explainer],
                        "status": "ok",
                        "correct": rng.random(n) < 0.7,
                        "fsyn": fsyn,
                        "sii": fsyn + rng.normal(0, noise_sd / 5, n),
                        "visual_deletion": -effects[explainer] + rng.normal(0, noise_sd, n),
                        "textual_deletion": effects[explainer] + rng.normal(0, noise_sd, n),
                        "visual_insertion": effects[explainer] + rng.normal(0, noise_sd, n),
                        "textual_insertion": -effects[explainer] + rng.normal(0, noise_sd, n),
                        "visual_srg": effects[explainer] + rng.normal(0, noise_sd, n),
                        "textual_srg": -effects[explainer] + rng.normal(0, noise_sd, n),
                    }
                )
            )
    rows = pd.concat(frames, ignore_index=True)
    if drop_share:
        # a separate stream, so the kept rows' values are those of the complete table
        kept = np.random.default_rng([seed, 1]).random(len(rows)) >= drop_share
        rows = rows[kept].reset_index(drop=True)
    return rows
