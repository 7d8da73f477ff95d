"""``synfaith report RUN_DIR``: one self-contained HTML page, its figures and a CSV per table.

Every number on the page comes from a table that is also written as CSV beside it; the summary
at the top quotes those tables (tests check that it does). Images are embedded as data URLs,
so the page reads without a network. Every legitimate run renders — one instance, one
explainer, every answer right, every row failed: an analysis the rows do not allow is not
computed, and the page says which and why (in its section and in a box under the summary),
and warns wherever a cell or test rests on fewer than
:data:`~synfaith.analysis.sample_size.SMALL_SAMPLE` instances. All files are written atomically.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from synfaith.analysis.leaderboard import (
    fit_mixed_model,
    format_mean_sd,
    leaderboard_numbers,
    leaderboard,
    mean_ranks,
    model_groups,
    mixed_models_per_dataset,
    wilcoxon_against_best,
)
from synfaith.analysis.metric_means import metric_means
from synfaith.analysis.rank_agreement import MIN_EXPLAINERS, mean_rank_heatmap, rank_agreement, rank_table
from synfaith.analysis.redundancy_report import instance_profiles, redundancy_summary
from synfaith.analysis.rows import (
    correctness_split_problem,
    explainer_count,
    why_not_computable,
    split_by_correctness,
    successful,
)
from synfaith.analysis.sample_size import SMALL_SAMPLE, cell_sizes, small_samples
from synfaith.analysis.validation import cost_comparison, fsyn_sii_agreement
from synfaith.report import figures
from synfaith.report.dividends import dividend_section
from synfaith.report.examples import resolve_examples
from synfaith.report.headroom_section import headroom_section, with_normalised
from synfaith.report.page import ReportBuilder, write_atomically
from synfaith.report.qualitative import qualitative_section
from synfaith.report.render import render
from synfaith.report.strata_section import strata_section
from synfaith.report.summary_sentences import unimodal_sentences, validation_sentence
from synfaith.runs.store import RunStore

MIN_SII_PAIRS = 3  # a correlation of F_syn with SII needs at least this many (instance, explainer) pairs


def by_correctness(function, rows: pd.DataFrame) -> pd.DataFrame:
    """``function(rows)`` for all answers, then for correct and incorrect ones, stacked with an ``answers`` column.

    A part that is empty, or that holds every successful row (every answer right, or every one
    wrong), is left out: it would repeat the ``all`` lines (the leaderboard says why once).
    """
    parts = []
    everything = successful(rows).shape[0]
    for name, part in split_by_correctness(rows).items():
        if name != "all" and successful(part).shape[0] in (0, everything):
            continue
        try:
            table = function(part)
        except (ValueError, KeyError, IndexError):
            continue  # e.g. too few rows among the incorrect answers
        if len(table):
            parts.append(table.reset_index(drop=True).assign(answers=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def _declared_metrics(store: RunStore) -> list:
    """The registered metrics this run computed (its config's list; every metric when unknown)."""
    from synfaith.metrics.registry import METRICS, metric_names

    try:
        names = list(store.config().get("metrics", {}).get("compute") or metric_names())
    except (OSError, AttributeError):
        names = metric_names()
    return [METRICS[name] for name in names if name in METRICS]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, examples: str | list[str] | None = None) -> Path:
    """Analyse a run directory and write ``index.html`` with figures and CSV tables; returns its path.

    ``examples``: the instance ids the qualitative section draws (default: the config's
    ``report.examples``, else one per stratum; :mod:`synfaith.report.examples`).

    Raises ``ValueError`` only when the run holds no rows at all or ``examples`` names an id it
    does not hold (before anything is written); any other run gives a page.
    """
    store = RunStore(run_dir)
    rows = store.read_rows()
    if rows.empty:
        raise ValueError(f"{run_dir} holds no result rows; run `synfaith run` first")
    try:
        config = store.config()
    except OSError:
        config = None
    chosen, no_examples = resolve_examples(rows, examples, config)
    out = Path(out_dir) if out_dir is not None else store.run_dir / "report"
    builder = ReportBuilder(out)
    summary: dict[str, str] = {}
    strata = strata_section(builder, rows)
    dividend_section(builder, rows)
    _leaderboard(builder, rows, summary)
    headroom_section(builder, rows, summary)
    _mixed_model(builder, rows, summary)
    _metric_means(builder, store, rows)
    _instability(builder, rows, summary)
    _validation(builder, rows, summary)
    _redundancy_and_probes(builder, rows)
    _efficiency(builder, rows)
    qualitative = builder.section("What the explainers show", "qualitative",
                                  "The instances named by --examples or report.examples in the config, else one per stratum (the "
                                  "instance nearest its stratum's median Δ): each explainer's visual map over the image, its "
                                  "query-token scores, and the stored interaction matrices.")
    if no_examples is not None:
        builder.skip(qualitative, "visual maps and token scores", no_examples)
    qualitative_section(builder, qualitative, store, rows, chosen)
    _failures(builder, rows, summary)

    sentences = [*strata.sentences, *unimodal_sentences(builder, rows)]
    sentences += [s for s in [validation_sentence(builder, rows)] if s is not None]
    page = render(store.run_dir, rows, builder, summary, small_samples(rows, SMALL_SAMPLE) + strata.small, SMALL_SAMPLE, sentences)
    summary_file = {**summary, "headline": strata.headline, "strata": strata.strata, "sentences": [s.as_dict() for s in sentences],
                    "not_computed": [f"{s.section.title}: {s.what} — {s.why}" for s in builder.skipped]}
    write_atomically(out / "summary.json", json.dumps(summary_file, indent=2))
    return write_atomically(out / "index.html", page)


def _leaderboard(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    board = builder.section("Leaderboard: F_syn per explainer, all instances pooled", "leaderboard",
                            "Mean F_syn (± sd) per explainer and dataset, the paper's Table 1 layout; higher is more synergistic faithfulness.")
    by_dataset = builder.attempt(board, "F_syn leaderboard", leaderboard, rows, "dataset")
    if by_dataset is not None:
        builder.table(board, "leaderboard_by_dataset", format_mean_sd(by_dataset), "F_syn mean (±sd) by dataset; the CSV holds n, mean, "
                      "sd and a 95% bootstrap interval per cell (and normalised F_syn, when the run has fsyn_search)",
                      csv=with_normalised(leaderboard_numbers(rows, "dataset"), rows))
        builder.table(board, "leaderboard_by_model", format_mean_sd(leaderboard(rows, "model")), "F_syn mean (±sd) by model",
                      csv=leaderboard_numbers(rows, "model"))
        builder.table(board, "model_groups", model_groups(rows), "F_syn per model, one row group per model: n, mean, sd, "
                      "95% bootstrap interval and failure rows of each explainer")
        summary["best_mean_explainer"] = by_dataset["mean"]["all"].idxmax()
        summary["best_mean_fsyn"] = _fmt(by_dataset["mean"]["all"].max())
    counts = cell_sizes(rows, "fsyn")
    counts["failed"] = rows[rows["status"] == "failed"].groupby("explainer").size().reindex(counts.index).fillna(0).astype(int)
    builder.table(board, "leaderboard_counts", counts, "Instances behind each mean (an explainer's failure rows are not in its mean; "
                  f"mean ranks and the Wilcoxon tests use only instances every explainer completed); the page warns below {SMALL_SAMPLE}")
    if by_dataset is None:
        return
    subsets = rows["meta"].map(lambda m: json.loads(m).get("subset") if isinstance(m, str) else None)
    if subsets.notna().any():
        with_subsets = rows.assign(subset=subsets)
        builder.table(board, "leaderboard_by_subset", format_mean_sd(leaderboard(with_subsets, "subset")),
                      "F_syn mean (±sd) by planted subset (synthetic world): on redundant instances the evidence pair is "
                      "redundant, so even the Oracle's dividend is negative", csv=leaderboard_numbers(with_subsets, "subset"))
    ranks = mean_ranks(rows)
    if ranks.empty:
        builder.skip(board, "mean ranks", "no instance was completed by every explainer")
    else:
        builder.table(board, "mean_ranks", ranks.rename("mean rank").to_frame(), "Mean rank per instance (1 = highest F_syn), instances where every explainer succeeded")
    tests = builder.attempt(board, "Wilcoxon tests against the best explainer", wilcoxon_against_best, rows)
    if tests is not None and len(tests):
        builder.table(board, "wilcoxon_vs_best", tests, "Paired two-sided Wilcoxon signed-rank tests against the best mean rank, Bonferroni-corrected", index=False)
    problem = correctness_split_problem(rows)
    if problem is not None:
        builder.skip(board, "correct / incorrect answers compared", problem)
    for part_name, part in split_by_correctness(rows).items() if problem is None else ():
        if part_name != "all" and successful(part, "fsyn").shape[0]:
            builder.table(board, f"leaderboard_{part_name}", format_mean_sd(leaderboard(part, "dataset")),
                          f"F_syn mean (±sd) by dataset, {part_name} answers only", csv=leaderboard_numbers(part, "dataset"))


def _mixed_model(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    lmm = builder.section("Mixed-effects model", "mixed-model")
    present = sorted(successful(rows, "fsyn")["explainer"].unique())
    reference = "random" if "random" in present or not present else present[0]
    model = builder.attempt(lmm, "mixed-effects model", fit_mixed_model, rows, reference=reference)
    if model is None or not len(model.reported_table):
        return
    from synfaith.analysis.mixed_model import UNTRUSTWORTHY

    reported, level = model.reported_table, f"{model.confidence:.0%}"
    builder.note(lmm, f"Formula <code>{html.escape(model.formula)}</code>; {html.escape(model.method)}; "
                      f"{model.rows:,} rows, {model.groups:,} groups, fitted in {model.seconds:.1f} s by "
                      f"{html.escape(model.optimiser or 'no optimiser')} (REML log-likelihood {model.log_likelihood:.4g})"
                      f"{'' if model.converged else ' — <b>did not converge</b>'}.")
    if model.trustworthy:
        builder.note(lmm, "<b>Diagnostics passed</b>: the fit converged with a finite log-likelihood and a usable Hessian, "
                          "and every variance component is away from zero (F-tests in the variance table).")
    else:
        builder.note(lmm, f"<b>The mixed model is not trustworthy here</b>: {html.escape(model.reason)}. "
                          f"Shown instead: <b>{html.escape(model.fallback)}</b> — the same fixed effects, standard errors robust "
                          "to any correlation within an instance; the paired Wilcoxon tests of the leaderboard need no model at all.",
                     "warning")
    for note in model.notes:
        if not note.startswith(UNTRUSTWORTHY):  # said in the box above
            builder.note(lmm, html.escape(note), "warning")
    caption = (f"Explainer coefficients against {reference} (REML), with {level} confidence intervals" if model.trustworthy else
               f"Explainer coefficients against {reference} from the fallback, {model.fallback}, with {level} confidence intervals")
    builder.table(lmm, "mixed_model", reported, caption, index=False)
    builder.figure(lmm, "mixed_model", figures.coefficient_plot(reported, reference), f"F_syn coefficients against {reference} ({model.source})")
    if not model.trustworthy and len(model.table):
        builder.table(lmm, "mixed_model_untrusted", model.table, "The mixed model's own coefficients, for comparison only: "
                      "not trustworthy (see the box above)", index=False)
    builder.table(lmm, "mixed_model_variance", model.variance_components, "Variance components (REML) and the exact F-test of each "
                  "against zero; on_boundary: it cannot be told from zero", index=False)
    if rows["dataset"].nunique() > 1:
        per_dataset = builder.attempt(lmm, "mixed model per dataset", mixed_models_per_dataset, rows, reference=reference)
        if per_dataset is not None:
            builder.table(lmm, "mixed_model_per_dataset", per_dataset, "The same model fitted on each dataset alone (the dataset term "
                          "drops out); where a dataset's fit is not trustworthy its line is the fallback's (source, reason)", index=False)
    top = reported.iloc[0]
    summary |= {"lmm_reference": reference, "lmm_best": str(top["explainer"]), "lmm_best_coefficient": _fmt(top["coefficient"]),
                "lmm_best_p": f"{top['p_value']:.2g}", "lmm_trustworthy": "yes" if model.trustworthy else "no",
                "lmm_source": model.source}


def _metric_means(builder: ReportBuilder, store: RunStore, rows: pd.DataFrame) -> None:
    declared = _declared_metrics(store)
    means = metric_means(rows, [(m.name, m.label or m.name, [c.name for c in m.columns]) for m in declared])
    everything = builder.section("Every metric of this run", "metrics",
                                 "The mean of each metric's value columns per explainer; the metrics and their columns are the "
                                 "metric registry's declarations: " + "; ".join(f"{m.label or m.name} ({m.description})" for m in declared) + ".")
    if means.empty:
        builder.skip(everything, "metric means", why_not_computable(rows, "status") or "no successful row holds a metric value")
    else:
        builder.table(everything, "metric_means", means, "Mean of every metric value per explainer")


def _instability(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    instability = builder.section("Do visual and textual unimodal rankings agree?", "ranking-instability",
                                  "Explainers ranked by visual and by textual deletion, insertion and SRG; Kendall τ between the two rankings.")
    reason = why_not_computable(rows, "visual_deletion")
    if reason is not None:
        builder.skip(instability, "unimodal rankings and Kendall τ", reason)
        return
    explainers = explainer_count(rows, "visual_deletion")
    if explainers < MIN_EXPLAINERS:
        builder.skip(instability, "Kendall τ between visual and textual rankings",
                     f"τ between two rankings needs at least {MIN_EXPLAINERS} explainers; this run has {explainers}")
    else:
        agreement = rank_agreement(rows)
        builder.table(instability, "rank_agreement", agreement, "Kendall τ between visual and textual explainer rankings", index=False)
        split = by_correctness(lambda part: rank_agreement(part).query("scope == 'all'"), rows)
        builder.table(instability, "rank_agreement_by_correctness", split, "The same, pooled, for all / correct / incorrect answers", index=False)
        pooled = agreement[agreement["scope"] == "all"].set_index("criterion")
        for criterion in ("deletion", "insertion", "srg"):
            summary[f"tau_{criterion}"] = _fmt(pooled.loc[criterion, "kendall_tau"], 2)
    table = rank_table(rows)
    builder.table(instability, "unimodal_ranks", table, "Explainer ranks under each unimodal metric (pooled)")
    builder.figure(instability, "rank_shift", figures.rank_shift(table), "Rank shift between the visual and textual version of each criterion")
    builder.figure(instability, "mean_rank_heatmap", figures.heatmap(mean_rank_heatmap(rows), "mean rank (1 = best)", integer_scale=True),
                   "Mean over instances of each explainer's rank (1 = best) per metric and dataset, on the instances every explainer completed")


def _validation(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    validation = builder.section("F_syn tracks the exact Shapley interaction", "validation",
                                 "F_syn against the exact SII of the 8-player macro game, on the instances where the ground truth was computed.")
    with_sii = successful(rows, "sii")
    with_sii = with_sii[with_sii["fsyn"].notna()]
    if len(with_sii) < MIN_SII_PAIRS:
        reason = why_not_computable(rows, "sii")
        if reason is not None and (rows["status"] == "ok").any():
            reason = "this run computed no SII ground truth (metrics.compute without sii, or sii_limit 0)"
        builder.skip(validation, "F_syn against the SII ground truth", reason or
                     f"a correlation needs at least {MIN_SII_PAIRS} (instance, explainer) pairs with both values; this run has {len(with_sii)}")
        return
    correlations = fsyn_sii_agreement(rows)
    builder.table(validation, "fsyn_sii_agreement", correlations, "Spearman and Kendall correlation of F_syn with SII", index=False)
    split = by_correctness(lambda part: fsyn_sii_agreement(part).query("scope == 'all'"), rows)
    builder.table(validation, "fsyn_sii_agreement_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
    builder.figure(validation, "fsyn_vs_sii", figures.fsyn_sii_scatter(with_sii), "F_syn against the SII ground truth")
    cost = cost_comparison(rows)
    builder.table(validation, "metric_cost", cost, "Mean cost per (instance, explainer) pair; token-forwards are tokens run through the "
                  "language model (a metric's: its evaluations × the instance's tokens per evaluation; the last line: per instance, "
                  "every metric and explainer sharing one cached game, prefix sharing counted)")
    overall = correlations.set_index("scope").loc["all"]
    summary |= {
        "fsyn_sii_spearman": _fmt(overall["spearman"], 2),
        "fsyn_sii_kendall": _fmt(overall["kendall"], 2),
        "fsyn_sii_pairs": str(int(overall["pairs"])),
        "sii_cost_ratio": _fmt(cost.loc["SII ground truth", "evaluations vs F_syn"], 1),
    }


def _redundancy_and_probes(builder: ReportBuilder, rows: pd.DataFrame) -> None:
    why = builder.section("Why unimodal metrics collapse: modality redundancy", "redundancy",
                          "Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅): positive when the answer needs both modalities, negative when either alone suffices.")
    reason = why_not_computable(rows, "modality_dividend")
    if reason is None:
        builder.table(why, "redundancy", redundancy_summary(rows), "Redundancy profile per model and dataset", index=False)
        split = by_correctness(redundancy_summary, rows)
        builder.table(why, "redundancy_by_correctness", split, "Redundancy profile for all / correct / incorrect answers", index=False)
        builder.figure(why, "modality_dividend", figures.dividend_distributions(instance_profiles(rows)), "Distribution of the modality dividend")
    else:
        builder.skip(why, "redundancy profile", reason)
    probes = builder.section(
        "Modality influence and unified stability", "probes",
        "Influence: 1 − Spearman between an explainer's attribution for one modality with and without the other "
        "modality (zero-state). Stability: agreement of the joint ranking under small perturbations that keep the answer.",
    )
    probe_columns = ["influence_text_without_image", "influence_image_without_text", "stability_spearman", "stability_top_k"]
    present = [c for c in probe_columns if len(successful(rows, c))]
    if not present:
        reason = why_not_computable(rows, "status")
        builder.skip(probes, "influence and stability", reason or "this run did not compute influence or stability (metrics.compute)")
        return
    table = successful(rows).groupby("explainer")[present].mean()
    table["instances"] = successful(rows).groupby("explainer")[present[0]].count()
    builder.table(probes, "probes", table, "Mean influence and stability per explainer")
    split = by_correctness(lambda part: successful(part).groupby("explainer")[present].mean().reset_index(), rows)
    builder.table(probes, "probes_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
    builder.note(probes, "An explainer that ignores its input (the seeded Random baseline) has influence 0 and stability 1: "
                         "stability rewards insensitivity, so read it next to F_syn, never alone.")


def _efficiency(builder: ReportBuilder, rows: pd.DataFrame) -> None:
    efficiency = builder.section("Efficiency and faithfulness", "pareto")
    reason = why_not_computable(rows, "fsyn")
    if reason is not None:
        builder.skip(efficiency, "time against F_syn", reason)
        return
    points = successful(rows, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean"))
    builder.table(efficiency, "pareto", points.join(_explainer_passes(rows)),
                  "Mean explanation time, F_syn, and forward / backward passes per explanation (sequences the model ran, as it "
                  "counted them; a game explainer's coalitions answered from the instance's cache cost none)")
    split = by_correctness(
        lambda part: successful(part, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean")).reset_index(), rows
    )
    builder.table(efficiency, "pareto_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
    builder.figure(efficiency, "pareto", figures.pareto(points), "Explainer time against F_syn (the red line is the Pareto front)")


def _explainer_passes(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean forward and backward passes per explanation, per explainer (empty for rows without counts)."""
    columns = [c for c in ("explain_forward_passes", "explain_backward_passes") if c in rows]
    counted = successful(rows, "fsyn")[["explainer", *columns]]
    means = counted.set_index("explainer").apply(pd.to_numeric, errors="coerce").groupby(level=0).mean()
    return means.rename(columns={"explain_forward_passes": "forward_passes", "explain_backward_passes": "backward_passes"})


def _failures(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    failures = rows[rows["status"] == "failed"]
    fails = builder.section("Failures", "failures")
    summary["failure_rows"] = str(len(failures))
    if len(failures):
        by_stage = failures.fillna({"stage": "?"}).groupby(["stage", "explainer"]).size().rename("rows").reset_index()
        builder.table(fails, "failures_by_stage", by_stage, "Failure rows by stage and explainer", index=False)
        examples = failures.drop_duplicates("message")[["model", "dataset", "instance_id", "explainer", "stage", "message"]].head(20)
        builder.table(fails, "failure_examples", examples, "Distinct failure messages (first 20)", index=False)
    else:
        builder.note(fails, "No failures.")

