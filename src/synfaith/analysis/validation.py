"""F_syn against the exact SII ground truth (paper §4.3): agreement and cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from synfaith.analysis.rows import successful


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
    """Mean game evaluations and seconds per (instance, explainer) pair: F_syn, SII ground truth, unimodal."""
    paired = successful(rows, "sii")
    lines = []
    for name, evaluations, seconds in (
        ("F_syn", "fsyn_coalitions", "fsyn_seconds"),
        ("SII ground truth", "sii_coalitions", "sii_seconds"),
        ("unimodal (both modalities)", "unimodal_coalitions", "unimodal_seconds"),
    ):
        part = paired if len(paired) else successful(rows, evaluations)
        lines.append({"metric": name, "pairs": len(part), "evaluations": part[evaluations].mean(), "seconds": part[seconds].mean()})
    table = pd.DataFrame(lines).set_index("metric")
    table["evaluations vs F_syn"] = table["evaluations"] / table.loc["F_syn", "evaluations"]
    table["seconds vs F_syn"] = table["seconds"] / table.loc["F_syn", "seconds"]
    return table
