"""The report's strata section and headline: leaderboard, mean ranks, Wilcoxon and mixed model per stratum (design §7).

Instances are split by the model's own modality dividend Δ (:mod:`synfaith.analysis.strata`);
the headline is the synergistic stratum's leader with its bootstrap interval and instance count,
the redundant stratum's table comes with the reason its means are negative, and the pooled
leaderboard is given for reference. Every number a sentence quotes is a cell of a CSV written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from synfaith.analysis.bootstrap import CONFIDENCE, RESAMPLES
from synfaith.analysis.headroom import SEARCH
from synfaith.analysis.leaderboard import fit_mixed_model
from synfaith.analysis.rows import INSTANCE, NotComputable, require_values, successful
from synfaith.analysis.sample_size import SMALL_SAMPLE
from synfaith.analysis.sentences import Sentence, plain, redundant_sentence, stratum_sentence
from synfaith.analysis.strata import (
    REPORTED,
    StratumRule,
    split_by_stratum,
    strata_counts,
    stratum_leaderboard,
    stratum_mean_ranks,
    stratum_overview,
    stratum_wilcoxon,
)
from synfaith.report.page import ReportBuilder


@dataclass
class StrataResult:
    """What the strata section gives the summary: its sentences (headline first), the headline and the split, as JSON-ready dicts."""

    sentences: list[Sentence] = field(default_factory=list)
    headline: dict = field(default_factory=dict)
    strata: dict = field(default_factory=dict)
    small: list[str] = field(default_factory=list)  # small-sample findings, for the box under the summary


def _mixed_models(parts: dict[str, pd.DataFrame], reference: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`fit_mixed_model` on each stratum: one table with a ``stratum`` column, and why a stratum was not fitted."""
    tables, why_not = [], {}
    for stratum, part in parts.items():
        try:
            result = fit_mixed_model(part, reference=reference)
        except NotComputable as reason:
            why_not[stratum] = str(reason)
            continue
        except Exception as error:  # noqa: BLE001 - e.g. a singular fit on a tiny stratum: say so, keep the report
            n = part.drop_duplicates(list(INSTANCE)).shape[0]
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            why_not[stratum] = f"statsmodels could not fit it on {n} instance{'s' if n != 1 else ''} ({type(error).__name__}: {message})"
            continue
        # the model's coefficients where its diagnostics pass, else its fallback's (``source`` says which), as the pooled section does
        table = result.reported_table
        if len(table):
            tables.append(table.assign(stratum=stratum, reference=reference, trustworthy=result.trustworthy, reason=result.reason,
                                       notes="; ".join(result.notes)))
    if not tables:
        return pd.DataFrame(), why_not
    table = pd.concat(tables, ignore_index=True)
    return table[["stratum", *[c for c in table.columns if c != "stratum"]]], why_not


def _line(overview: pd.DataFrame, stratum: str) -> dict:
    return overview.set_index("stratum").loc[stratum].to_dict() | {"stratum": stratum}


def strata_section(builder: ReportBuilder, rows: pd.DataFrame, rule: StratumRule = StratumRule(),
                   resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> StrataResult:
    """Write the strata section (tables ``strata_*``) and return the headline and its sentences."""
    section = builder.section(
        "Leaderboard by stratum: synergistic, redundant, all", "strata",
        f"Each instance is placed by the model's own modality dividend Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅) (probability units): "
        f"synergistic {rule.describe('synergistic')}, redundant {rule.describe('redundant')}, neutral {rule.describe('neutral')} "
        f"(threshold θ = {rule.threshold:g}). F_syn rewards finding synergy, so pooling the strata penalises explainers that find "
        "redundant evidence; the headline is the synergistic stratum. Means carry percentile bootstrap intervals over instances "
        f"({round(100 * confidence)}%, {resamples} resamples, seeded); mean ranks, Wilcoxon tests and the mixed model use the "
        "instances of the stratum every explainer completed. The fsyn_search bound is left out here (see the headroom section).")
    result = StrataResult()
    rows = rows[rows["explainer"] != SEARCH]  # the search's ranking is the headroom section's reference, not a competitor
    try:
        require_values(rows, "fsyn")
    except NotComputable as reason:
        builder.skip(section, "leaderboard by stratum", str(reason))
        result.headline = {"stratum": None, "leader": None, "n_instances": 0, "why_not": str(reason)}
        return result
    try:
        parts = split_by_stratum(rows, rule)
        split_reason = None
    except NotComputable as reason:
        split_reason = f"the split needs the modality dividend Δ and {reason}"
        builder.skip(section, "strata by the modality dividend", split_reason)
        parts = {"all": rows}
    counts = strata_counts(rows, rule)
    builder.table(section, "strata_counts", counts, f"Instances per stratum and the rule that placed them (θ = {rule.threshold:g})", index=False)
    board = stratum_leaderboard(parts, resamples=resamples, confidence=confidence)
    builder.table(section, "strata_leaderboard", board, f"Mean F_syn per stratum and explainer with its {round(100 * confidence)}% "
                  "bootstrap interval over instances: over the instances each explainer completed (n), and over the stratum's "
                  "instances every explainer completed (paired_n; explainers are ranked by this paired mean, position 1 = highest)",
                  index=False)
    overview = stratum_overview(board, counts)
    overview = overview[overview["stratum"].isin(parts)].reset_index(drop=True)
    builder.table(section, "strata_overview", overview, "Per stratum: its leader, runner-up and lowest explainer, and how many "
                  "explainers have a negative mean (the numbers the summary quotes)", index=False)
    ranks = stratum_mean_ranks(parts)
    if len(ranks):
        builder.table(section, "strata_mean_ranks", ranks, "Mean rank per stratum (1 = highest F_syn) over the instances every explainer completed", index=False)
    tests, why_no_test = stratum_wilcoxon(parts)
    if len(tests):
        builder.table(section, "strata_wilcoxon", tests, "Paired two-sided Wilcoxon signed-rank tests against each stratum's best mean rank, "
                      "Bonferroni-corrected within the stratum", index=False)
    for stratum, why in why_no_test.items():
        if successful(parts[stratum], "fsyn").shape[0]:
            builder.skip(section, f"Wilcoxon tests on the {stratum} stratum", why)
    present = sorted(successful(rows, "fsyn")["explainer"].unique())
    reference = "random" if "random" in present else present[0]
    models, why_no_model = _mixed_models(parts, reference)
    if len(models):
        builder.table(section, "strata_mixed_model", models, f"The mixed model of the Mixed-effects section fitted on each stratum: "
                      f"coefficients against {reference} with 95% confidence intervals; where its diagnostics fail (trustworthy False, "
                      "reason) the line is its fallback's (source)", index=False)
    for stratum, why in why_no_model.items():
        if successful(parts[stratum], "fsyn").shape[0]:
            builder.skip(section, f"mixed-effects model on the {stratum} stratum", why)

    def top_model(stratum: str) -> dict | None:
        if not len(models) or stratum not in set(models["stratum"]):
            return None
        top = models[models["stratum"] == stratum].sort_values("coefficient", ascending=False).iloc[0]
        return {"explainer": top["explainer"], "coefficient": top["coefficient"], "p_value": top["p_value"], "reference": reference,
                "source": top["source"]}

    headline_stratum = "all" if split_reason else "synergistic"
    headline = stratum_sentence(_line(overview, headline_stratum), confidence, top_model(headline_stratum))
    result.sentences.append(Sentence("headline", "Headline", headline.template, headline.quotes, headline.warnings))
    if not split_reason:
        redundant = redundant_sentence(_line(overview, "redundant"))
        result.sentences.append(redundant)
        builder.note(section, redundant.html())
        pooled = stratum_sentence(_line(overview, "all"), confidence, top_model("all"))
        result.sentences.append(Sentence("pooled", "Pooled", pooled.template, pooled.quotes, pooled.warnings))
    line = _line(overview, headline_stratum)
    result.headline = {
        "stratum": headline_stratum, "rule": line["rule"], "threshold": rule.threshold, "leader": plain(line["leader"]),
        "n_instances": int(line["instances"]), "all_instances": int(line["all_instances"]), "basis": line["basis"],
        "paired_instances": int(line["paired_instances"]), "leader_mean": _number(line["leader_mean"]),
        "ci_low": _number(line["leader_ci_low"]), "ci_high": _number(line["leader_ci_high"]), "confidence": confidence,
        "runner_up": plain(line["runner_up"]), "runner_up_mean": _number(line["runner_up_mean"]), "ci_overlap": plain(line["ci_overlap"]),
        "small_sample": bool(headline.warnings), "text": headline.text,
    } | ({"why_not_stratified": split_reason} if split_reason else {})
    result.strata = {"threshold": rule.threshold, "rule": {s: rule.describe(s) for s in ("synergistic", "redundant", "neutral")},
                     "counts": {r["stratum"]: int(r["instances"]) for r in counts.to_dict("records")}}
    for stratum in REPORTED:
        if stratum == "all" or stratum not in parts:
            continue
        n = parts[stratum].drop_duplicates(list(INSTANCE)).shape[0]
        if n < SMALL_SAMPLE:
            result.small.append(f"the {stratum} stratum ({rule.describe(stratum)}) holds {n} instance{'s' if n != 1 else ''} (fewer than {SMALL_SAMPLE})")
    return result


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
