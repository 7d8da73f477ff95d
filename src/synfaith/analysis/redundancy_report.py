"""The *why* behind the collapse: how much each model needs both modalities, per dataset.

The modality dividend Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅) (docs/design.md §3) is positive when
the answer needs image and text together and negative when either alone suffices (then
unimodal deletion cannot separate explainers). Image-only / text-only "accuracy" is the share
of instances whose answer keeps probability > ½ with the other modality at its zero-state.
"""

from __future__ import annotations

import pandas as pd

from synfaith.analysis.rows import INSTANCE


def instance_profiles(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (model, dataset, instance) with its redundancy values and correctness."""
    columns = [*INSTANCE, "correct", "v_full", "v_image_only", "v_text_only", "v_empty", "modality_dividend"]
    present = rows[rows["modality_dividend"].notna()]
    return present[columns].drop_duplicates(subset=list(INSTANCE)).reset_index(drop=True)


def redundancy_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (model, dataset): instances, accuracy, mean Δ, share with Δ < 0, image-only / text-only survival."""
    profiles = instance_profiles(rows)
    lines = []
    for (model, dataset), part in profiles.groupby(["model", "dataset"]):
        known = part["correct"].dropna()
        lines.append(
            {
                "model": model,
                "dataset": dataset,
                "instances": len(part),
                "accuracy": known.astype(float).mean() if len(known) else float("nan"),
                "mean_dividend": part["modality_dividend"].mean(),
                "share_redundant": (part["modality_dividend"] < 0).mean(),
                "answer_survives_image_only": (part["v_image_only"] > 0.5).mean(),
                "answer_survives_text_only": (part["v_text_only"] > 0.5).mean(),
                "mean_p_image_only": part["v_image_only"].mean(),
                "mean_p_text_only": part["v_text_only"].mean(),
            }
        )
    return pd.DataFrame(lines)
