"""Strata from the model's own redundancy: synergistic, redundant and neutral instances (pure; design §7).

Every (model, dataset, instance) has its modality dividend (design §3, row column
``modality_dividend``)  Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅),  in units of the answer's
probability. With a threshold θ ≥ 0 the rule is

* **synergistic**: Δ > θ — the answer needs image and text together;
* **redundant**:   Δ < −θ — either modality alone carries (most of) the answer;
* **neutral**:     |Δ| ≤ θ — the two modalities act (almost) additively;
* **unknown**:     no Δ (the run did not compute the redundancy profile, or the row failed).

The default θ = 0.05 (:data:`DIVIDEND_THRESHOLD`): a dividend of five percentage points of the
answer's probability is the smallest interaction we read as one; below it a joint effect is
within what rounding of the zero-state (blur, padding) moves the score by. F_syn rewards finding
synergy, so on the redundant stratum an explainer that finds the evidence scores *negative* (the
OR game of design §3): pooling the strata penalises exactly the explainers that find the evidence.
No labels are needed — the split comes from the model's own four evaluations per instance.

:func:`stratum_leaderboard`, :func:`stratum_mean_ranks`, :func:`stratum_wilcoxon` and
:func:`stratum_overview` give the leaderboard, mean ranks, tests and the numbers the headline
quotes, per stratum (``synergistic``, ``redundant``, ``all``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synfaith.analysis.bootstrap import CONFIDENCE, RESAMPLES, SEED, bootstrap_table
from synfaith.analysis.leaderboard import mean_ranks, wilcoxon_against_best
from synfaith.analysis.rows import INSTANCE, NotComputable, complete_instances, require_values, successful

DIVIDEND_THRESHOLD = 0.05  # θ in probability units: |Δ| ≤ θ is neutral (see the module docstring for why)
REPORTED = ("synergistic", "redundant", "all")  # the strata every table is given for
STRATA = ("synergistic", "redundant", "neutral", "unknown")


@dataclass(frozen=True)
class StratumRule:
    """The split of instances by their modality dividend Δ: synergistic Δ > θ, redundant Δ < −θ, neutral otherwise."""

    threshold: float = DIVIDEND_THRESHOLD
    column: str = "modality_dividend"

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"the stratum threshold must be a finite number ≥ 0 in probability units, got {self.threshold!r}; "
                             f"pass e.g. {DIVIDEND_THRESHOLD}")

    def describe(self, stratum: str) -> str:
        """The rule of ``stratum`` in words, e.g. ``"Δ > 0.05"``."""
        θ = f"{self.threshold:g}"
        return {"synergistic": f"Δ > {θ}", "redundant": f"Δ < −{θ}", "neutral": f"|Δ| ≤ {θ}",
                "unknown": "no Δ computed", "all": "every instance"}[stratum]


def instance_strata(rows: pd.DataFrame, rule: StratumRule = StratumRule()) -> pd.DataFrame:
    """One line per (model, dataset, instance): its Δ and its stratum (``unknown`` where no row holds Δ)."""
    for column in (*INSTANCE, "status"):
        if column not in rows:
            raise ValueError(f"strata: the rows have no column {column!r}; pass result rows of a run (RunStore.read_rows())")
    instances = rows.drop_duplicates(list(INSTANCE))[list(INSTANCE)]
    with_delta = successful(rows, rule.column).drop_duplicates(list(INSTANCE))[[*INSTANCE, rule.column]] if rule.column in rows else None
    table = instances.merge(with_delta, on=list(INSTANCE), how="left") if with_delta is not None else instances.assign(**{rule.column: np.nan})
    delta = table[rule.column].astype(float)
    table["stratum"] = np.select([delta > rule.threshold, delta < -rule.threshold, delta.notna()],
                                 ["synergistic", "redundant", "neutral"], "unknown")
    return table.reset_index(drop=True)


def split_by_stratum(rows: pd.DataFrame, rule: StratumRule = StratumRule()) -> dict[str, pd.DataFrame]:
    """``{"synergistic": …, "redundant": …, "all": rows}``: the rows of each stratum's instances.

    Raises :class:`NotComputable` when no row holds a modality dividend (the split needs the
    redundancy metric: ``metrics.compute`` with ``redundancy``).
    """
    require_values(rows, rule.column)
    strata = instance_strata(rows, rule)
    keyed = rows.merge(strata[[*INSTANCE, "stratum"]], on=list(INSTANCE), how="left")
    keyed.index = rows.index
    return {"synergistic": rows[keyed["stratum"] == "synergistic"], "redundant": rows[keyed["stratum"] == "redundant"], "all": rows}


def strata_counts(rows: pd.DataFrame, rule: StratumRule = StratumRule()) -> pd.DataFrame:
    """Instances per stratum (every stratum, then ``all``): ``stratum``, ``rule``, ``instances``, ``share``, ``mean_dividend``."""
    strata = instance_strata(rows, rule)
    total = len(strata)
    lines = []
    for stratum in (*STRATA, "all"):
        part = strata if stratum == "all" else strata[strata["stratum"] == stratum]
        delta = part[rule.column].dropna()
        lines.append({"stratum": stratum, "rule": rule.describe(stratum), "instances": len(part),
                      "share": len(part) / total if total else math.nan, "mean_dividend": float(delta.mean()) if len(delta) else math.nan})
    return pd.DataFrame(lines)


def stratum_leaderboard(parts: dict[str, pd.DataFrame], metric: str = "fsyn", resamples: int = RESAMPLES,
                        confidence: float = CONFIDENCE, seed: int = SEED) -> pd.DataFrame:
    """Per stratum and explainer: its mean over its own instances and over the paired instances, each with a bootstrap CI.

    * ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high``: over every instance of the stratum the
      explainer completed (its failed rows are not in its mean);
    * ``paired_n``, ``paired_mean``, ``paired_ci_low``, ``paired_ci_high``: over the stratum's
      instances that *every* explainer completed, so all explainers are compared on the same
      instances (F_syn is bounded by each instance's own synergy, so means over different
      instances are not comparable when explainers fail on different instances);
    * ``position``: 1 = highest paired mean (the own-instance mean where no instance is paired).

    Intervals are percentile bootstraps of the mean over instances (:func:`~synfaith.analysis.bootstrap.bootstrap_mean_ci`).
    """
    tables = []
    for stratum, part in parts.items():
        ok = successful(part, metric)
        if ok.empty:
            continue
        own = bootstrap_table(ok, ["explainer"], metric, resamples, confidence, seed)
        paired = bootstrap_table(complete_instances(ok, metric), ["explainer"], metric, resamples, confidence, seed)
        paired = paired.drop(columns="sd").rename(columns={c: f"paired_{c}" for c in ("n", "mean", "ci_low", "ci_high")})
        table = own.merge(paired, on="explainer", how="left")
        table["paired_n"] = table["paired_n"].fillna(0).astype(int)
        order = table["paired_mean"].where(table["paired_n"] > 0, table["mean"])
        table = table.assign(_order=order).sort_values(["_order", "explainer"], ascending=[False, True]).drop(columns="_order")
        tables.append(table.reset_index(drop=True).assign(stratum=stratum, position=np.arange(1, len(table) + 1)))
    columns = ["stratum", "position", "explainer", "n", "mean", "sd", "ci_low", "ci_high",
               "paired_n", "paired_mean", "paired_ci_low", "paired_ci_high"]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


def stratum_mean_ranks(parts: dict[str, pd.DataFrame], metric: str = "fsyn") -> pd.DataFrame:
    """Per stratum: each explainer's mean rank (1 = best) over the stratum's instances every explainer completed."""
    tables = []
    for stratum, part in parts.items():
        if successful(part, metric).empty:
            continue
        ranks = mean_ranks(part, metric)
        if len(ranks):
            tables.append(pd.DataFrame({"stratum": stratum, "explainer": ranks.index, "mean_rank": ranks.to_numpy()}))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["stratum", "explainer", "mean_rank"])


def stratum_wilcoxon(parts: dict[str, pd.DataFrame], metric: str = "fsyn") -> tuple[pd.DataFrame, dict[str, str]]:
    """Per stratum: :func:`~synfaith.analysis.leaderboard.wilcoxon_against_best`; and why it was not computed where it was not."""
    tables, why_not = [], {}
    for stratum, part in parts.items():
        try:
            tests = wilcoxon_against_best(part, metric)
        except NotComputable as reason:
            why_not[stratum] = str(reason)
            continue
        tables.append(tests.assign(stratum=stratum))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return (table[["stratum", *[c for c in table.columns if c != "stratum"]]] if len(table) else table), why_not


def stratum_overview(board: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """One line per reported stratum: its rule, instances, and the leader, runner-up and lowest of its leaderboard.

    The means compared are the paired ones (``basis`` = ``"paired"``: ``paired_instances``
    instances every explainer completed) when the stratum has any, else each explainer's own
    (``basis`` = ``"own"``). ``negative_means`` counts explainers whose compared mean is below 0;
    ``ci_overlap`` says whether the leader's and the runner-up's intervals overlap (then the lead
    is within the uncertainty).
    """
    lines = []
    by_stratum = counts.set_index("stratum")
    for stratum in REPORTED:
        part = board[board["stratum"] == stratum].sort_values("position") if len(board) else board
        paired = bool(len(part)) and bool((part["paired_n"] > 0).all())
        prefix = "paired_" if paired else ""
        line = {"stratum": stratum, "rule": by_stratum.loc[stratum, "rule"], "instances": int(by_stratum.loc[stratum, "instances"]),
                "all_instances": int(by_stratum.loc["all", "instances"]), "basis": "paired" if paired else "own",
                "paired_instances": int(part["paired_n"].max()) if paired else 0, "explainers": len(part),
                "negative_means": int((part[f"{prefix}mean"] < 0).sum()) if len(part) else 0}
        for role, index, needs in (("leader", 0, 1), ("runner_up", 1, 2), ("lowest", len(part) - 1, 1)):
            row = part.iloc[index] if len(part) >= needs else None
            line[role] = None if row is None else row["explainer"]
            for value in ("mean", "ci_low", "ci_high"):
                line[f"{role}_{value}"] = math.nan if row is None else row[f"{prefix}{value}"]
        overlap = line["runner_up"] is not None and not (math.isnan(line["leader_ci_low"]) or math.isnan(line["runner_up_ci_high"]))
        line["ci_overlap"] = bool(line["leader_ci_low"] <= line["runner_up_ci_high"]) if overlap else None
        lines.append(line)
    return pd.DataFrame(lines)
