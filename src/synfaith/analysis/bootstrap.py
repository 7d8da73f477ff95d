"""Percentile bootstrap confidence intervals of a mean over instances (pure, seeded, vectorised).

For values x_1..x_n (one per instance) and B resamples, resample b draws n indices with
replacement, i_b1..i_bn, and takes the mean  m_b = (1/n) Σ_j x_{i_bj}.  The percentile interval
at confidence 1 − α is  [q_{α/2}(m_1..m_B), q_{1−α/2}(m_1..m_B)]  (empirical quantiles, linear
interpolation). It assumes instances are exchangeable and says nothing about a population the
instances were not drawn from. With n < 2 there is no spread to resample: the interval is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
_CHUNK_ELEMENTS = 4_000_000  # resample indices are drawn in chunks of at most this many (bounds memory)


@dataclass(frozen=True)
class BootstrapCI:
    """A mean with its percentile bootstrap interval: ``low`` ≤ ``mean`` ≤ ``high`` (NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    resamples: int
    confidence: float


def _check(resamples: int, confidence: float) -> None:
    if not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}; pass e.g. {RESAMPLES}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}; pass e.g. {CONFIDENCE}")


def bootstrap_mean_ci(values, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> BootstrapCI:
    """The mean of ``values`` (one per instance) and its percentile bootstrap interval (formula in the module docstring).

    Raises ``ValueError`` for a value that is NaN or infinite (drop missing instances first) and for
    bad ``resamples`` / ``confidence``. The same ``seed`` always gives the same interval.
    """
    _check(resamples, confidence)
    x = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(x).all():
        raise ValueError(f"values hold {int((~np.isfinite(x)).sum())} NaN or infinite entries; drop the instances without a value first")
    n = x.size
    if n == 0:
        return BootstrapCI(math.nan, math.nan, math.nan, 0, resamples, confidence)
    mean = float(x.mean())
    if n < 2:
        return BootstrapCI(mean, math.nan, math.nan, n, resamples, confidence)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // n)
    means = np.empty(resamples)
    for start in range(0, resamples, per_chunk):
        stop = min(resamples, start + per_chunk)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    # the percentile interval of a mean holds the sample mean up to float rounding; clip that rounding away
    return BootstrapCI(mean, float(min(low, mean)), float(max(high, mean)), n, resamples, confidence)


def bootstrap_table(
    frame: pd.DataFrame, by: list[str], value: str, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED
) -> pd.DataFrame:
    """Per group of ``by``: ``n``, ``mean``, ``sd`` and the bootstrap ``ci_low`` / ``ci_high`` of ``value`` (NaN values left out).

    Each group is resampled with the same ``seed``, so a group's interval does not depend on the others.
    """
    missing = [c for c in [*by, value] if c not in frame]
    if missing:
        raise ValueError(f"bootstrap_table: the rows have no column {', '.join(map(repr, missing))}; columns: {', '.join(map(str, frame.columns))}")
    lines = []
    present = frame[frame[value].notna()]
    for key, part in present.groupby(by, sort=False):
        ci = bootstrap_mean_ci(part[value].to_numpy(dtype=float), resamples, confidence, seed)
        keys = key if isinstance(key, tuple) else (key,)
        sd = float(part[value].std()) if ci.n > 1 else math.nan
        lines.append({**dict(zip(by, keys)), "n": ci.n, "mean": ci.mean, "sd": sd, "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(lines, columns=[*by, "n", "mean", "sd", "ci_low", "ci_high"])
