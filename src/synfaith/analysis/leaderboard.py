"""The explainer leaderboard (paper §4.4, App. B.2): means, mean ranks, paired tests, mixed model.

* :func:`leaderboard` — mean F_syn ± sd per explainer and dataset (or model), plus overall.
* :func:`mean_ranks` — explainers ranked by F_syn within every (model, dataset, instance),
  1 = best, averaged.
* :func:`wilcoxon_against_best` — paired two-sided Wilcoxon signed-rank tests of every
  explainer against the one with the best mean rank, Bonferroni-corrected for the number of
  comparisons.
* :func:`fit_mixed_model` — a linear mixed-effects model of F_syn with the explainer as fixed
  effect (Random as reference), see its docstring for how random effects are fitted.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from synfaith.analysis.rows import INSTANCE, NotComputable, complete_instances, require_values


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


@dataclass
class MixedModelResult:
    """Fixed-effect estimates of explainers against the reference, with how the model was fitted."""

    table: pd.DataFrame  # term, coefficient, se, z, p_value, ci_low, ci_high
    reference: str
    formula: str
    method: str
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    groups: int = 0
    seconds: float = 0.0
    converged: bool = True


def fit_mixed_model(
    rows: pd.DataFrame, metric: str = "fsyn", reference: str = "random", min_random_levels: int = 5
) -> MixedModelResult:
    """Linear mixed model ``metric ~ explainer`` with random intercepts, Random as reference.

    How random effects are fitted: every (dataset, instance) is a group with its own random
    intercept (REML, statsmodels ``MixedLM``). Model and dataset enter as random intercepts
    (variance components) only when they have at least ``min_random_levels`` levels; with fewer
    — three models and three datasets in the paper's design — a variance cannot be estimated
    from so few levels, so they enter as fixed effects and the result says so in ``notes``. A
    term with one level is dropped (e.g. the dataset term of a per-dataset model).
    Crossed variance components (model ≥ ``min_random_levels``) use one group for all rows
    and are much slower (minutes on 10k rows); the nested form takes seconds on 100k rows.
    """
    import statsmodels.formula.api as smf

    start = time.perf_counter()
    data = require_values(rows, metric)[["explainer", "model", "dataset", "instance_id", metric]].copy()
    explainers = sorted(data["explainer"].unique())
    if len(explainers) < 2:
        raise NotComputable(f"an explainer effect needs at least 2 explainers; this run has {len(explainers)} ({', '.join(explainers)})")
    instances = data[["dataset", "instance_id"]].drop_duplicates().shape[0]
    if instances < 2:
        raise NotComputable(f"a random intercept per instance needs at least 2 instances; this run has {instances}")
    if reference not in explainers:
        raise NotComputable(f"reference explainer {reference!r} has no {metric} values; explainers: {', '.join(explainers)}")
    data["instance"] = data["dataset"].astype(str) + "/" + data["instance_id"].astype(str)
    notes = []
    fixed = [f"C(explainer, Treatment(reference={reference!r}))"]
    variance_components = {}
    for term in ("model", "dataset"):
        levels = data[term].nunique()
        if levels < 2:
            notes.append(f"{term}: one level ({data[term].iloc[0]}), term dropped")
        elif levels < min_random_levels:
            fixed.append(f"C({term})")
            notes.append(
                f"{term}: {levels} levels — too few to estimate a variance, fitted as a fixed effect "
                f"instead of a random intercept (needs ≥ {min_random_levels})"
            )
        else:
            variance_components[term] = f"0 + C({term})"
    formula = f"{metric} ~ " + " + ".join(fixed)
    if variance_components:
        # crossed random intercepts: one group holding every row, each factor a variance component
        variance_components["instance"] = "0 + C(instance)"
        model = smf.mixedlm(formula, data, groups=np.ones(len(data)), vc_formula=variance_components)
        method = "REML; crossed random intercepts for " + ", ".join(variance_components) + " (variance components, one group)"
        groups = 1
    else:
        model = smf.mixedlm(formula, data, groups=data["instance"])
        method = "REML; random intercept per instance (dataset/instance groups)"
        groups = data["instance"].nunique()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=True, method=["lbfgs"])
    notes += sorted({f"statsmodels: {w.message}" for w in caught if issubclass(w.category, Warning)})
    confidence = fit.conf_int()
    prefix = f"C(explainer, Treatment(reference={reference!r}))[T."
    lines = []
    for term in fit.fe_params.index:
        if not term.startswith(prefix):
            continue
        lines.append(
            {
                "explainer": term[len(prefix) : -1],
                "coefficient": fit.fe_params[term],
                "se": fit.bse_fe[term],
                "z": fit.tvalues[term],
                "p_value": fit.pvalues[term],
                "ci_low": confidence.loc[term, 0],
                "ci_high": confidence.loc[term, 1],
            }
        )
    table = pd.DataFrame(lines).sort_values("coefficient", ascending=False).reset_index(drop=True)
    return MixedModelResult(
        table=table,
        reference=reference,
        formula=formula,
        method=method,
        notes=notes,
        rows=len(data),
        groups=groups,
        seconds=time.perf_counter() - start,
        converged=bool(fit.converged),
    )


def mixed_models_per_dataset(rows: pd.DataFrame, metric: str = "fsyn", reference: str = "random") -> pd.DataFrame:
    """:func:`fit_mixed_model` on each dataset alone (its dataset term drops out): one table, a ``dataset`` column."""
    tables = []
    for dataset, part in rows.groupby("dataset"):
        try:
            result = fit_mixed_model(part, metric, reference)
        except NotComputable as reason:  # e.g. a dataset of one instance: say so in its line
            tables.append(pd.DataFrame([{"explainer": None, "dataset": dataset, "notes": f"not fitted: {reason}"}]))
            continue
        tables.append(result.table.assign(dataset=dataset, notes="; ".join(result.notes)))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
