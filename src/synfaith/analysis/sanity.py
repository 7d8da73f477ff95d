"""Sanity rows on planted ground truth: does each metric rank the Oracle above chance?

On the synthetic world the perfect explainer is known. On ``synergy`` instances a faithful
cross-modal metric must put the Oracle above Random and the reversed Oracle; on ``redundant``
instances the unimodal deletion curve cannot tell them apart (the paper's collapse). Pure
functions over rows; :mod:`synfaith.runs.planted` produces the rows through the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

SANITY_METRICS = ("fsyn", "visual_deletion", "visual_insertion", "textual_deletion")


@dataclass(frozen=True)
class ExplainerScores:
    """Per-instance metric values of one explainer on a list of instances."""

    explainer: str
    fsyn: np.ndarray
    visual_deletion: np.ndarray
    visual_insertion: np.ndarray
    textual_deletion: np.ndarray


def sanity_scores(rows: pd.DataFrame) -> dict[str, ExplainerScores]:
    """Each explainer's F_syn and unimodal values, in instance order (ok rows)."""
    ok = rows[rows["status"] == "ok"]
    return {
        name: ExplainerScores(name, **{metric: part[metric].to_numpy(dtype=float) for metric in SANITY_METRICS})
        for name, part in ok.groupby("explainer", sort=False)
    }


def compare_explainers(first: np.ndarray, second: np.ndarray, alternative: str = "greater") -> float:
    """Paired Wilcoxon signed-rank p-value that ``first`` exceeds ``second`` (1.0 if all equal)."""
    if np.allclose(first, second):
        return 1.0
    return float(wilcoxon(first, second, alternative=alternative, zero_method="wilcox").pvalue)


def mean_dividend_by_subset(rows: pd.DataFrame) -> dict[str, float]:
    """Mean modality dividend Δ (docs/design.md §3) per planted subset, one value per instance."""
    per_instance = rows.dropna(subset=["modality_dividend"]).drop_duplicates(subset=["instance_id"])
    return {subset: float(part["modality_dividend"].mean()) for subset, part in per_instance.groupby("subset")}


def sanity_markdown(rows_by_subset: Mapping[str, pd.DataFrame], n: int) -> list[str]:
    """Markdown lines: Oracle vs Random vs reversed Oracle on each subset's rows."""
    lines = [
        f"Existence questions answered yes ({n} per subset, test split), the model's own answers. p = one-sided",
        "paired Wilcoxon that the Oracle scores higher (F_syn, Ins_V) or lower (Del_V, better) than the other.",
        "",
        "| subset | explainer | F_syn | Del_V | Ins_V | p F_syn | p Del_V |",
        "|---|---|---|---|---|---|---|",
    ]
    for subset, rows in rows_by_subset.items():
        scores = sanity_scores(rows)
        oracle = scores["oracle"]
        for name, s in scores.items():
            if name == "oracle":
                p_fsyn = p_del = "—"
            else:
                p_fsyn = f"{compare_explainers(oracle.fsyn, s.fsyn):.1e}"
                p_del = f"{compare_explainers(oracle.visual_deletion, s.visual_deletion, 'less'):.1e}"
            lines.append(
                f"| {subset} | {name} | {s.fsyn.mean():.3f} | {s.visual_deletion.mean():.3f} | "
                f"{s.visual_insertion.mean():.3f} | {p_fsyn} | {p_del} |"
            )
    return lines
