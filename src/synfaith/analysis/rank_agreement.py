"""Ranking instability of unimodal metrics (paper §4.2, App. B.3/C.1).

For each unimodal criterion (deletion: lower is better; insertion and SRG: higher is better)
explainers are ranked by their mean visual score and by their mean textual score; Kendall's τ
between the two rankings measures whether the modalities agree on which explainer is best.
A faithful *joint* metric should not depend on which modality one happens to perturb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from synfaith.analysis.rows import INSTANCE, UNIMODAL_CRITERIA, complete_instances, successful

MIN_EXPLAINERS = 3  # Kendall τ between two rankings of fewer explainers is ±1 or undefined: reported as NaN


def explainer_ranking(rows: pd.DataFrame, column: str, higher_is_better: bool) -> pd.Series:
    """Rank (1 = best) of each explainer by its mean ``column``; ties share the mean rank."""
    means = successful(rows, column).groupby("explainer")[column].mean()
    return (-means if higher_is_better else means).rank(method="average")


def rank_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Kendall τ (and its p-value) between visual and textual explainer rankings.

    One line per scope — ``all`` (every model and dataset pooled), each dataset, and each
    model × dataset — and criterion.
    """
    scopes: list[tuple[str, pd.DataFrame]] = [("all", rows)]
    scopes += [(f"dataset={d}", part) for d, part in rows.groupby("dataset")]
    if rows["model"].nunique() > 1:
        scopes += [(f"model={m}, dataset={d}", part) for (m, d), part in rows.groupby(["model", "dataset"])]
    lines = []
    for scope, part in scopes:
        for criterion, (visual, textual, higher) in UNIMODAL_CRITERIA.items():
            a = explainer_ranking(part, visual, higher)
            b = explainer_ranking(part, textual, higher)
            common = a.index.intersection(b.index)
            tau, p = (np.nan, np.nan) if len(common) < MIN_EXPLAINERS else kendalltau(a[common], b[common])
            lines.append({"scope": scope, "criterion": criterion, "explainers": len(common), "kendall_tau": tau, "p_value": p})
    return pd.DataFrame(lines)


def rank_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Explainer ranks under every unimodal metric (columns ``visual deletion`` … ``textual srg``), pooled."""
    table = {}
    for criterion, (visual, textual, higher) in UNIMODAL_CRITERIA.items():
        table[f"visual {criterion}"] = explainer_ranking(rows, visual, higher)
        table[f"textual {criterion}"] = explainer_ranking(rows, textual, higher)
    return pd.DataFrame(table)


def mean_instance_rank(rows: pd.DataFrame, column: str, higher_is_better: bool) -> pd.Series:
    """Mean over instances of each explainer's rank on ``column`` (1 = best, ties share the mean rank).

    mean rank(e) = (1/N) Σ_i rank_i(e), over the N (model, dataset, instance) that every explainer
    completed, so each explainer is ranked on the same instances (not the rank of a pooled mean).
    """
    complete = complete_instances(rows, column)
    signed = -complete[column] if higher_is_better else complete[column]
    ranks = signed.groupby([complete[c] for c in INSTANCE]).rank(method="average")
    return ranks.groupby(complete["explainer"]).mean()


def mean_rank_heatmap(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`mean_instance_rank` of each explainer per (metric, dataset), over every model's instances:
    rows explainers, columns ``metric | dataset``."""
    columns = {}
    for dataset, part in rows.groupby("dataset"):
        for criterion, (visual, textual, higher) in UNIMODAL_CRITERIA.items():
            for modality, column in (("visual", visual), ("textual", textual)):
                columns[f"{modality} {criterion} | {dataset}"] = mean_instance_rank(part, column, higher)
        columns[f"F_syn | {dataset}"] = mean_instance_rank(part, "fsyn", True)
    return pd.DataFrame(columns)
