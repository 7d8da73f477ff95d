"""F_syn against the exact SII ground truth (paper §4.3): agreement and cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from synfaith.analysis.rows import INSTANCE, successful


def _correlations(x: pd.Series, y: pd.Series) -> dict[str, float]:
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return {"spearman": np.nan, "spearman_p": np.nan, "kendall": np.nan, "kendall_p": np.nan}
    rho, p_rho = spearmanr(x, y)
    tau, p_tau = kendalltau(x, y)
    return {"spearman": rho, "spearman_p": p_rho, "kendall": tau, "kendall_p": p_tau}


def fsyn_sii_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Spearman and Kendall correlation of F_syn with the SII ground truth, overall and per explainer."""
    paired = successful(rows, "sii")
    paired = paired[paired["fsyn"].notna()]
    lines = [{"scope": "all", "pairs": len(paired), **_correlations(paired["fsyn"], paired["sii"])}]
    for explainer, part in paired.groupby("explainer"):
        lines.append({"scope": explainer, "pairs": len(part), **_correlations(part["fsyn"], part["sii"])})
    return pd.DataFrame(lines)


def cost_comparison(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean cost per (instance, explainer) pair: F_syn, SII ground truth, unimodal; and per instance.

    ``evaluations`` are the distinct coalitions each metric needs (its cost on a cold cache) and
    ``seconds`` its wall time. ``token-forwards`` are tokens run through the language model:
    the instance line is what the instance's one shared game really ran (``instance_token_forwards``,
    prefix sharing counted; every metric and explainer together), and a metric's line is its
    evaluations × that instance's tokens per evaluation.
    """
    paired = successful(rows, "sii")
    lines = []
    tokens_per_evaluation = None
    if "instance_token_forwards" in rows and "instance_evaluations" in rows:
        tokens = pd.to_numeric(rows["instance_token_forwards"], errors="coerce")
        evaluations = pd.to_numeric(rows["instance_evaluations"], errors="coerce")
        tokens_per_evaluation = (tokens / evaluations.where(evaluations > 0)).rename("tokens_per_evaluation")
    for name, evaluations, seconds in (
        ("F_syn", "fsyn_coalitions", "fsyn_seconds"),
        ("SII ground truth", "sii_coalitions", "sii_seconds"),
        ("unimodal (both modalities)", "unimodal_coalitions", "unimodal_seconds"),
    ):
        part = paired if len(paired) else successful(rows, evaluations)
        line = {"metric": name, "pairs": len(part), "evaluations": part[evaluations].mean(), "seconds": part[seconds].mean()}
        if tokens_per_evaluation is not None:
            line["token-forwards"] = (part[evaluations] * tokens_per_evaluation.loc[part.index]).mean()
        lines.append(line)
    table = pd.DataFrame(lines).set_index("metric")
    table["evaluations vs F_syn"] = table["evaluations"] / table.loc["F_syn", "evaluations"]
    table["seconds vs F_syn"] = table["seconds"] / table.loc["F_syn", "seconds"]
    if tokens_per_evaluation is not None:
        instances = rows.dropna(subset=["instance_token_forwards"]).drop_duplicates(subset=list(INSTANCE))
        if len(instances):
            table.loc["instance (one shared game)", ["pairs", "evaluations", "token-forwards"]] = [
                len(instances), pd.to_numeric(instances["instance_evaluations"]).mean(), pd.to_numeric(instances["instance_token_forwards"]).mean()
            ]
    return table
