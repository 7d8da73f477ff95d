"""The tables behind the dividend figures (pure functions over result rows; each is also written as CSV).

- :func:`with_strata` — the rows with their instance's ``stratum`` (:mod:`synfaith.analysis.strata`).
- :func:`dividend_curves` — mean S_del(t_k) and S_ins(t_k) per explainer and stratum, with a
  percentile bootstrap CI over instances at every step.
- :func:`stratum_means` — mean F_syn per explainer and stratum with its bootstrap CI.
- :func:`delta_fsyn_points` — per (instance, explainer): Δ and F_syn, with Spearman ρ per explainer.

Every interval is :func:`~synfaith.analysis.bootstrap.bootstrap_mean_ci`: resample the n
instances with replacement B times, take the mean each time, report the (α/2, 1 − α/2) quantiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from synfaith.analysis.bootstrap import bootstrap_mean_ci, bootstrap_table
from synfaith.analysis.rows import INSTANCE, NotComputable, require_values
from synfaith.analysis.strata import StratumRule, instance_strata

CURVES = {"deletion": "fsyn_deletion_curve", "insertion": "fsyn_insertion_curve"}
STRATUM_ORDER = ("all", "synergistic", "redundant", "neutral")


def with_strata(rows: pd.DataFrame, rule: StratumRule = StratumRule()) -> pd.DataFrame:
    """``rows`` with a ``stratum`` column: its instance's stratum (``unknown`` without Δ)."""
    strata = instance_strata(rows, rule)[[*INSTANCE, "stratum"]]
    keyed = rows.drop(columns=["stratum"], errors="ignore").merge(strata, on=list(INSTANCE), how="left")
    keyed.index = rows.index
    return keyed


def _strata_parts(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``("all", rows)`` then each known stratum present, in :data:`STRATUM_ORDER`."""
    parts = [("all", rows)]
    if "stratum" in rows:
        parts += [(s, rows[rows["stratum"] == s]) for s in STRATUM_ORDER[1:] if (rows["stratum"] == s).any()]
    return parts


def dividend_curves(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean dividend curves per (stratum, explainer, curve, step), with bootstrap CIs over instances.

    For explainer e and step k: mean_k = (1/n) Σ_i S_i(t_k), t_k = k/(K−1), over the n instances of
    the stratum where e has the curve; ``ci_low``/``ci_high`` are the 95% percentile bootstrap
    interval of that mean (NaN for n < 2). Only rows whose curves have the run's most common
    length K are used (a run holds one K; other lengths would not share the t grid).

    Raises :class:`NotComputable` when no row holds the curves (the run did not compute ``fsyn``).
    """
    ok = require_values(rows, CURVES["deletion"])
    lengths = ok[CURVES["deletion"]].map(len)
    steps = int(lengths.mode().iloc[0])
    ok = ok[lengths == steps]
    if steps < 2:
        raise NotComputable(f"the dividend curves have {steps} step; a curve needs at least 2 (metrics.steps)")
    t = np.linspace(0.0, 1.0, steps)
    lines = []
    for stratum, part in _strata_parts(ok):
        for explainer, own in part.groupby("explainer"):
            for curve, column in CURVES.items():
                values = np.stack([np.asarray(v, dtype=float) for v in own[column]])
                for k in range(steps):
                    ci = bootstrap_mean_ci(values[:, k], seed=seed)
                    lines.append({"stratum": stratum, "explainer": explainer, "curve": curve, "step": k, "t": t[k],
                                  "n": ci.n, "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(lines)


def stratum_means(rows: pd.DataFrame, metric: str = "fsyn", seed: int = 0) -> pd.DataFrame:
    """Mean ``metric`` per (stratum, explainer): ``n``, ``mean``, ``sd``, bootstrap ``ci_low``/``ci_high`` (strata as in
    :data:`STRATUM_ORDER`; ``all`` pools every instance, the unknown stratum included)."""
    ok = require_values(rows, metric)
    tables = [bootstrap_table(part, ["explainer"], metric, seed=seed).assign(stratum=stratum) for stratum, part in _strata_parts(ok)]
    table = pd.concat(tables, ignore_index=True)
    return table[["stratum", *[c for c in table.columns if c != "stratum"]]]


def delta_fsyn_points(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(points, correlations)``: Δ and F_syn per (instance, explainer), and per explainer Spearman ρ(Δ, F_syn).

    ρ is NaN with fewer than 3 instances or a constant column. Raises :class:`NotComputable`
    when no row holds both values.
    """
    ok = require_values(rows, "fsyn")
    ok = ok[ok["modality_dividend"].notna()] if "modality_dividend" in ok else ok.iloc[0:0]
    if ok.empty:
        raise NotComputable("no successful row holds both F_syn and the modality dividend Δ (metrics.compute needs redundancy and fsyn)")
    columns = [*INSTANCE, "explainer", "modality_dividend", "fsyn"] + (["stratum"] if "stratum" in ok else [])
    points = ok[columns].reset_index(drop=True)
    lines = []
    for explainer, part in points.groupby("explainer"):
        x, y = part["modality_dividend"].to_numpy(float), part["fsyn"].to_numpy(float)
        defined = len(part) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
        lines.append({"explainer": explainer, "instances": len(part), "spearman": float(spearmanr(x, y)[0]) if defined else np.nan})
    return points, pd.DataFrame(lines)
