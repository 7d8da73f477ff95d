"""What the mixed model is checked against: exact F-tests of its variance components, and its fallback.

Both are ordinary least squares, so neither depends on an optimiser:

* :func:`variance_f_tests` — for each random factor, the classical F-test of "its variance is
  zero" (the factor entered as fixed dummies, compared with the same model without them). It
  flags a variance on the boundary independently of where REML's optimiser stopped.
* :func:`clustered_ols` — the fallback shown when the mixed model is not trustworthy: OLS with
  the same fixed effects, standard errors robust to any correlation within an instance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

INSTANCE_FACTOR = "instance"


@dataclass(frozen=True)
class VarianceTest:
    """The F-test of one random factor's variance against zero (``p_value`` NaN: not testable, e.g. nested)."""

    factor: str
    levels: int
    f_statistic: float
    df_factor: int
    df_residual: int
    p_value: float


def dummies(codes: np.ndarray) -> np.ndarray:
    """Treatment-coded indicator columns of integer ``codes`` (first level dropped)."""
    levels = int(codes.max()) + 1 if len(codes) else 0
    return (codes[:, None] == np.arange(1, levels)[None, :]).astype(float)


def _within(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``values`` minus their mean within each code (absorbs one dummy per code, exactly)."""
    counts = np.bincount(codes).astype(float)
    if values.ndim == 1:
        return values - (np.bincount(codes, values) / counts)[codes]
    means = np.column_stack([np.bincount(codes, values[:, j]) / counts for j in range(values.shape[1])])
    return values - means[codes] if values.shape[1] else values


def _rss_and_rank(y: np.ndarray, design: np.ndarray, absorb: np.ndarray | None) -> tuple[float, int]:
    """Residual sum of squares and rank of the OLS fit of ``y`` on ``design`` (+ one dummy per ``absorb`` code)."""
    extra = 0
    if absorb is not None:
        y, design = _within(y, absorb), _within(design, absorb)
        extra = int(np.bincount(absorb).astype(bool).sum())
    if design.shape[1]:
        # columns the absorbed dummies already span are ~1e-16 after demeaning: drop them before the rank
        keep = np.abs(design).max(axis=0) > 1e-10 * max(1.0, float(np.abs(design).max()))
        design = design[:, keep]
    if design.shape[1] == 0:
        return float(y @ y), extra
    coefficients, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    return float(residual @ residual), int(rank) + extra


def variance_f_tests(y: np.ndarray, fixed: np.ndarray, random: dict[str, np.ndarray]) -> list[VarianceTest]:
    """F-test of ``σ²_factor = 0`` for each random factor (``random[name]`` = integer codes; must hold ``"instance"``).

    Full model: ``y ~ fixed + dummies(every random factor)``; restricted: the same without the
    tested factor's dummies. ``F = ((RSS_r − RSS_f) / (rank_f − rank_r)) / (RSS_f / (n − rank_f))``,
    referred to ``F(rank_f − rank_r, n − rank_f)``. Under ``σ²_factor = 0`` (and normal errors) this
    is exact; it is the standard test of a random intercept's variance. The instance factor is
    absorbed by within-instance demeaning, so 100k rows × 3k instances cost a few dense columns.
    A factor nested in the instances (the dataset) adds no rank given them: ``p_value`` is NaN.
    """
    others = [name for name in random if name != INSTANCE_FACTOR]
    instance = random[INSTANCE_FACTOR]
    full_design = np.column_stack([fixed, *[dummies(random[name]) for name in others]])
    rss_full, rank_full = _rss_and_rank(y, full_design, instance)
    df_residual = len(y) - rank_full
    tests = []
    for name in random:
        if name == INSTANCE_FACTOR:
            rss, rank = _rss_and_rank(y, full_design, None)
        else:
            rest = np.column_stack([fixed, *[dummies(random[o]) for o in others if o != name]])
            rss, rank = _rss_and_rank(y, rest, instance)
        df_factor = rank_full - rank
        levels = int(len(np.unique(random[name])))
        if df_factor <= 0 or df_residual <= 0:
            tests.append(VarianceTest(name, levels, np.nan, df_factor, df_residual, np.nan))
            continue
        if rss_full <= 1e-14 * max(rss, 1e-300):  # an exact fit within instances: no residual noise at all
            f_statistic = np.inf if rss > rss_full else np.nan
        else:
            f_statistic = max(rss - rss_full, 0.0) / df_factor / (rss_full / df_residual)
        p = float(stats.f.sf(f_statistic, df_factor, df_residual)) if np.isfinite(f_statistic) else (0.0 if f_statistic == np.inf else np.nan)
        tests.append(VarianceTest(name, levels, float(f_statistic), df_factor, df_residual, p))
    return tests


def clustered_ols(data: pd.DataFrame, formula: str, clusters: np.ndarray, prefix: str, confidence: float) -> pd.DataFrame:
    """OLS of ``formula`` with instance-clustered (CR1) standard errors; t with ``G − 1`` df (G = clusters).

    ``V = (X'X)⁻¹ (Σ_g X_g' e_g e_g' X_g) (X'X)⁻¹ · G/(G−1) · (n−1)/(n−p)``. Valid whatever the
    correlation of rows within an instance (including none), so it stands in for the random
    intercept; with few instances its t reference makes the intervals wide, as they should be.
    Returns the explainer terms (those starting with ``prefix``) as a coefficient table.
    """
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        # a table without residual noise gives zero or NaN standard errors: the table shows them as they are
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
        interval = fit.conf_int(alpha=1 - confidence)
        lines = [
            {
                "explainer": term[len(prefix) : -1],
                "coefficient": fit.params[term],
                "se": fit.bse[term],
                "t": fit.tvalues[term],
                "p_value": fit.pvalues[term],
                "ci_low": interval.loc[term, 0],
                "ci_high": interval.loc[term, 1],
            }
            for term in fit.params.index
            if term.startswith(prefix)
        ]
    return coefficient_table(lines, "t")


def coefficient_table(lines: list[dict], statistic: str) -> pd.DataFrame:
    """Coefficient lines (``statistic`` names the z or t column) as a table, largest coefficient first; empty keeps the columns."""
    table = pd.DataFrame(lines, columns=["explainer", "coefficient", "se", statistic, "p_value", "ci_low", "ci_high"])
    return table.sort_values("coefficient", ascending=False).reset_index(drop=True) if len(table) else table
