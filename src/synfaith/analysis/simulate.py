"""Result rows with planted effects, for testing the analyses and timing them at full scale."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


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
) -> pd.DataFrame:
    """Rows with ``fsyn = effect[explainer] + u_instance + u_model + u_dataset + ε``.

    Every instance is scored by every model and explainer (the benchmark's crossed design).
    The unimodal columns are filled with ``visual = effect + noise`` and ``textual = −effect +
    noise`` (a planted, complete disagreement between the modalities), and ``sii = fsyn +
    small noise``.
    """
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
    return pd.concat(frames, ignore_index=True)
