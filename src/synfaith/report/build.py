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
    leaderboard,
    mean_ranks,
    mixed_models_per_dataset,
    wilcoxon_against_best,
)
from synfaith.analysis.metric_means import metric_means
from synfaith.analysis.rank_agreement import MIN_EXPLAINERS, mean_rank_heatmap, rank_agreement, rank_table
from synfaith.analysis.redundancy_report import instance_profiles, redundancy_summary
from synfaith.analysis.rows import (
    NotComputable,
    correctness_split_problem,
    explainer_count,
    require_values,
    split_by_correctness,
    successful,
)
from synfaith.analysis.sample_size import SMALL_SAMPLE, cell_sizes, small_samples
from synfaith.analysis.validation import cost_comparison, fsyn_sii_agreement
from synfaith.report import figures
from synfaith.report.page import ReportBuilder, write_atomically
from synfaith.report.qualitative import qualitative_section
from synfaith.report.render import render
from synfaith.runs.store import RunStore

MIN_SII_PAIRS = 3  # a correlation of F_syn with SII needs at least this many (instance, explainer) pairs


def by_correctness(function, rows: pd.DataFrame) -> pd.DataFrame:
    """``function(rows)`` for all answers, then for correct and incorrect ones, stacked with an ``answers`` column."""
    parts = []
    for name, part in split_by_correctness(rows).items():
        if name != "all" and successful(part).empty:
            continue  # e.g. every answer right: no incorrect part (the leaderboard says so once)
        try:
            table = function(part)
        except (ValueError, KeyError, IndexError):
            continue  # e.g. too few rows among the incorrect answers
        if len(table):
            parts.append(table.reset_index(drop=True).assign(answers=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def _why_not(rows: pd.DataFrame, column: str) -> str | None:
    """Why ``column`` has no successful value (``None`` when it has one)."""
    try:
        require_values(rows, column)
    except NotComputable as reason:
        return str(reason)
    return None


def _declared_metrics(store: RunStore) -> list:
    """The registered metrics this run computed (its config's list; every metric when unknown)."""
    from synfaith.metrics.registry import METRICS, metric_names

    try:
        names = list(store.config().get("metrics", {}).get("compute") or metric_names())
    except (OSError, AttributeError):
        names = metric_names()
    return [METRICS[name] for name in names if name in METRICS]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Analyse a run directory and write ``index.html`` with figures and CSV tables; returns its path.

    Raises ``ValueError`` only when the run holds no rows at all; any other run gives a page.
    """
    store = RunStore(run_dir)
    rows = store.read_rows()
    if rows.empty:
        raise ValueError(f"{run_dir} holds no result rows; run `synfaith run` first")
    out = Path(out_dir) if out_dir is not None else store.run_dir / "report"
    builder = ReportBuilder(out)
    summary: dict[str, str] = {}
    _leaderboard(builder, rows, summary)
    _mixed_model(builder, rows, summary)
    _metric_means(builder, store, rows)
    _instability(builder, rows, summary)
    _validation(builder, rows, summary)
    _redundancy_and_probes(builder, rows)
    _efficiency(builder, rows)
    qualitative = builder.section("What the explainers show", "qualitative",
                                  "Instances drawn with a fixed seed; each explainer's visual map over the image, and its query-token scores.")
    qualitative_section(builder, qualitative, store, rows)
    _failures(builder, rows, summary)

    page = render(store.run_dir, rows, builder, summary, small_samples(rows, SMALL_SAMPLE), SMALL_SAMPLE)
    summary_file = {**summary, "not_computed": [f"{s.section.title}: {s.what} — {s.why}" for s in builder.skipped]}
    write_atomically(out / "summary.json", json.dumps(summary_file, indent=2))
    return write_atomically(out / "index.html", page)


def _leaderboard(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    board = builder.section("Leaderboard: F_syn per explainer", "leaderboard",
                            "Mean F_syn (± sd) per explainer and dataset, the paper's Table 1 layout; higher is more synergistic faithfulness.")
    by_dataset = builder.attempt(board, "F_syn leaderboard", leaderboard, rows, "dataset")
    if by_dataset is not None:
        builder.table(board, "leaderboard_by_dataset", format_mean_sd(by_dataset), "F_syn mean (±sd) by dataset")
        builder.table(board, "leaderboard_by_model", format_mean_sd(leaderboard(rows, "model")), "F_syn mean (±sd) by model")
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
        builder.table(board, "leaderboard_by_subset", format_mean_sd(leaderboard(rows.assign(subset=subsets), "subset")),
                      "F_syn mean (±sd) by planted subset (synthetic world): on redundant instances the evidence pair is "
                      "redundant, so even the Oracle's dividend is negative")
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
    for part_name, part in split_by_correctness(rows).items():
        if part_name != "all" and successful(part, "fsyn").shape[0]:
            builder.table(board, f"leaderboard_{part_name}", format_mean_sd(leaderboard(part, "dataset")),
                          f"F_syn mean (±sd) by dataset, {part_name} answers only")


def _mixed_model(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    lmm = builder.section("Mixed-effects model", "mixed-model")
    present = sorted(successful(rows, "fsyn")["explainer"].unique())
    reference = "random" if "random" in present or not present else present[0]
    model = builder.attempt(lmm, "mixed-effects model", fit_mixed_model, rows, reference=reference)
    if model is None or not len(model.table):
        return
    builder.note(lmm, f"Formula <code>{html.escape(model.formula)}</code>; {html.escape(model.method)}; "
                      f"{model.rows:,} rows, {model.groups:,} groups, fitted in {model.seconds:.1f} s"
                      f"{'' if model.converged else ' — <b>did not converge</b>'}.")
    for note in model.notes:
        builder.note(lmm, html.escape(note), "warning")
    builder.table(lmm, "mixed_model", model.table, f"Explainer coefficients against {reference} (REML), with 95% confidence intervals", index=False)
    builder.figure(lmm, "mixed_model", figures.coefficient_plot(model.table, reference), f"F_syn coefficients against {reference}")
    if rows["dataset"].nunique() > 1:
        per_dataset = builder.attempt(lmm, "mixed model per dataset", mixed_models_per_dataset, rows, reference=reference)
        if per_dataset is not None:
            builder.table(lmm, "mixed_model_per_dataset", per_dataset, "The same model fitted on each dataset alone (the dataset term drops out)", index=False)
    top = model.table.iloc[0]
    summary |= {"lmm_reference": reference, "lmm_best": str(top["explainer"]), "lmm_best_coefficient": _fmt(top["coefficient"]),
                "lmm_best_p": f"{top['p_value']:.2g}"}


def _metric_means(builder: ReportBuilder, store: RunStore, rows: pd.DataFrame) -> None:
    declared = _declared_metrics(store)
    means = metric_means(rows, [(m.name, m.label or m.name, [c.name for c in m.columns]) for m in declared])
    everything = builder.section("Every metric of this run", "metrics",
                                 "The mean of each metric's value columns per explainer; the metrics and their columns are the "
                                 "metric registry's declarations: " + "; ".join(f"{m.label or m.name} ({m.description})" for m in declared) + ".")
    if means.empty:
        builder.skip(everything, "metric means", _why_not(rows, "status") or "no successful row holds a metric value")
    else:
        builder.table(everything, "metric_means", means, "Mean of every metric value per explainer")


def _instability(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    instability = builder.section("Unimodal metrics disagree", "ranking-instability",
                                  "Explainers ranked by visual and by textual deletion, insertion and SRG; Kendall τ between the two rankings.")
    reason = _why_not(rows, "visual_deletion")
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
    builder.figure(instability, "mean_rank_heatmap", figures.heatmap(mean_rank_heatmap(rows), "mean rank (1 = best)"), "Mean rank of each explainer per metric and dataset")


def _validation(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    validation = builder.section("F_syn tracks the exact Shapley interaction", "validation",
                                 "F_syn against the exact SII of the 8-player macro game, on the instances where the ground truth was computed.")
    with_sii = successful(rows, "sii")
    with_sii = with_sii[with_sii["fsyn"].notna()]
    if len(with_sii) < MIN_SII_PAIRS:
        reason = _why_not(rows, "sii")
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
    builder.table(validation, "metric_cost", cost, "Mean cost per (instance, explainer) pair")
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
    reason = _why_not(rows, "modality_dividend")
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
        reason = _why_not(rows, "status")
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
    reason = _why_not(rows, "fsyn")
    if reason is not None:
        builder.skip(efficiency, "time against F_syn", reason)
        return
    points = successful(rows, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean"))
    builder.table(efficiency, "pareto", points, "Mean explanation time and F_syn per explainer")
    split = by_correctness(
        lambda part: successful(part, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean")).reset_index(), rows
    )
    builder.table(efficiency, "pareto_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
    builder.figure(efficiency, "pareto", figures.pareto(points), "Explainer time against F_syn (the red line is the Pareto front)")


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

