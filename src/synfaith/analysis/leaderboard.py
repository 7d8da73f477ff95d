"""The explainer leaderboard (paper §4.4, App. B.2): means, mean ranks, paired tests, mixed model.

* :func:`leaderboard` — mean F_syn ± sd per explainer and dataset (or model), plus overall.
* :func:`mean_ranks` — explainers ranked by F_syn within every (model, dataset, instance),
  1 = best, averaged.
* :func:`wilcoxon_against_best` — paired two-sided Wilcoxon signed-rank tests of every
  explainer against the one with the best mean rank, Bonferroni-corrected for the number of
  comparisons.
* :func:`fit_mixed_model` — the mixed-effects model, now in :mod:`synfaith.analysis.mixed_model`
  (re-exported here with :class:`MixedModelResult` and :func:`mixed_models_per_dataset`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from synfaith.analysis.mixed_model import MixedModelResult, fit_mixed_model, mixed_model, mixed_models_per_dataset
from synfaith.analysis.rows import INSTANCE, NotComputable, complete_instances, require_values

__all__ = [
    "MixedModelResult", "fit_mixed_model", "format_mean_sd", "leaderboard", "leaderboard_numbers", "mean_ranks", "mixed_model", "model_groups",
    "mixed_models_per_dataset", "wilcoxon_against_best",
]


def leaderboard(rows: pd.DataFrame, by: str = "dataset", metric: str = "fsyn") -> pd.DataFrame:
    """``mean ± sd`` of ``metric`` per explainer (rows) and ``by`` level (columns), plus ``all``; sorted by ``all``."""
    ok = require_values(rows, metric)
    means = ok.pivot_table(index="explainer", columns=by, values=metric, aggfunc="mean")
    # a cell of one instance has no sd: keep it as NaN instead of letting pivot_table drop the column
    sds = ok.pivot_table(index="explainer", columns=by, values=metric, aggfunc="std", dropna=False).reindex(columns=means.columns)
    means["all"] = ok.groupby("explainer")[metric].mean()
    sds["all"] = ok.groupby("explainer")[metric].std()
    order = means["all"].sort_values(ascending=False).index
    return pd.concat({"mean": means.loc[order], "sd": sds.loc[order]}, axis=1)


def leaderboard_numbers(rows: pd.DataFrame, by: str = "dataset", metric: str = "fsyn") -> pd.DataFrame:
    """The leaderboard as numbers, one line per explainer: for every ``by`` level and ``all``, the
    columns ``<level>_n``, ``_mean``, ``_sd`` and the 95% percentile bootstrap ``_ci_low`` /
    ``_ci_high`` of the mean over instances (:func:`~synfaith.analysis.bootstrap.bootstrap_table`);
    sorted by the pooled mean. This is what the report's CSVs hold (the page shows ``mean (±sd)``)."""
    from synfaith.analysis.bootstrap import bootstrap_table

    ok = require_values(rows, metric)
    parts = [bootstrap_table(ok, ["explainer", by], metric), bootstrap_table(ok, ["explainer"], metric).assign(**{by: "all"})]
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot(index="explainer", columns=by, values=["n", "mean", "sd", "ci_low", "ci_high"])
    levels = [*sorted(str(v) for v in ok[by].unique()), "all"]
    wide.columns = [f"{level}_{stat}" for stat, level in wide.columns]
    wide = wide[[f"{level}_{stat}" for level in levels for stat in ("n", "mean", "sd", "ci_low", "ci_high")]]
    for level in levels:
        wide[f"{level}_n"] = wide[f"{level}_n"].fillna(0).astype(int)
    return wide.sort_values("all_mean", ascending=False)


def format_mean_sd(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A :func:`leaderboard` table as ``"0.123 (±0.045)"`` strings; ``"0.123 (n = 1)"`` where a cell has no sd, ``"—"`` where it is empty."""
    means, sds = table["mean"], table["sd"]

    def cell(m: float, s: float) -> str:
        if pd.isna(m):
            return "—"
        return f"{m:.{digits}f} (n = 1)" if pd.isna(s) else f"{m:.{digits}f} (±{s:.{digits}f})"

    return means.apply(lambda column: [cell(m, s) for m, s in zip(column, sds[column.name])])


def mean_ranks(rows: pd.DataFrame, metric: str = "fsyn") -> pd.Series:
    """Mean rank (1 = highest ``metric``) of each explainer over instances where every explainer has a value."""
    complete = complete_instances(require_values(rows, metric), metric)
    ranks = complete.groupby(list(INSTANCE))[metric].rank(ascending=False, method="average")
    return ranks.groupby(complete["explainer"]).mean().sort_values()


def wilcoxon_against_best(rows: pd.DataFrame, metric: str = "fsyn") -> pd.DataFrame:
    """Paired Wilcoxon signed-rank tests (two-sided) of each explainer against the best mean rank, Bonferroni-corrected.

    Raises :class:`NotComputable` with fewer than two explainers (nothing to compare).
    """
    explainers = sorted(require_values(rows, metric)["explainer"].unique())
    if len(explainers) < 2:
        raise NotComputable(f"a paired test needs at least 2 explainers; this run has {len(explainers)} ({', '.join(explainers)})")
    ranks = mean_ranks(rows, metric)
    if ranks.empty:
        raise NotComputable("no instance was completed by every explainer, so there are no pairs")
    best = ranks.index[0]
    wide = complete_instances(rows, metric).pivot_table(index=list(INSTANCE), columns="explainer", values=metric)
    others = [e for e in ranks.index if e != best]
    lines = []
    for explainer in others:
        difference = wide[best] - wide[explainer]
        if np.allclose(difference, 0):
            statistic, p = np.nan, 1.0
        else:
            result = wilcoxon(wide[best], wide[explainer], alternative="two-sided", zero_method="wilcox")
            statistic, p = float(result.statistic), float(result.pvalue)
        lines.append(
            {
                "explainer": explainer,
                "best": best,
                "mean_rank": ranks[explainer],
                "pairs": len(difference),
                "median_difference": float(np.median(difference)),
                "statistic": statistic,
                "p_value": p,
                "p_bonferroni": min(1.0, p * len(others)),
            }
        )
    return pd.DataFrame(lines)


def model_groups(rows: pd.DataFrame, metric: str = "fsyn") -> pd.DataFrame:
    """One row group per model: for each (model, explainer) its ``n``, ``mean``, ``sd`` and 95%
    bootstrap interval of ``metric``, explainers sorted by mean within each model; plus the
    model's failure rows per explainer (``failed``)."""
    from synfaith.analysis.bootstrap import bootstrap_table

    ok = require_values(rows, metric)
    table = bootstrap_table(ok, ["model", "explainer"], metric).set_index(["model", "explainer"])
    # every pair the run holds, also one whose rows all failed (n = 0, mean empty)
    pairs = pd.MultiIndex.from_frame(rows[["model", "explainer"]].drop_duplicates())
    table = table.reindex(table.index.union(pairs))
    table["n"] = table["n"].fillna(0).astype(int)
    failed = rows[rows["status"] == "failed"].groupby(["model", "explainer"]).size()
    table["failed"] = failed.reindex(table.index).fillna(0).astype(int)
    return table.reset_index().sort_values(["model", "mean"], ascending=[True, False], na_position="last").set_index(["model", "explainer"])
