"""``synfaith report RUN_DIR``: one self-contained HTML page, its figures and a CSV per table.

Every number on the page comes from a table that is also written as CSV beside it; the summary
at the top quotes those tables (tests check that it does). Images are embedded as data URLs,
so the page reads without a network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from synfaith.analysis.metric_means import metric_means
from synfaith.analysis.leaderboard import (
    fit_mixed_model,
    format_mean_sd,
    leaderboard,
    mean_ranks,
    mixed_models_per_dataset,
    wilcoxon_against_best,
)
from synfaith.analysis.rank_agreement import mean_rank_heatmap, rank_agreement, rank_table
from synfaith.analysis.redundancy_report import instance_profiles, redundancy_summary
from synfaith.analysis.rows import split_by_correctness, successful
from synfaith.analysis.validation import cost_comparison, fsyn_sii_agreement
from synfaith.report import figures
from synfaith.report.page import ReportBuilder, Section, _write_atomically
from synfaith.runs.store import RunStore

QUALITATIVE_SEED = 0


def by_correctness(function, rows: pd.DataFrame) -> pd.DataFrame:
    """``function(rows)`` for all answers, then for correct and incorrect ones, stacked with an ``answers`` column."""
    parts = []
    for name, part in split_by_correctness(rows).items():
        try:
            table = function(part)
        except (ValueError, KeyError, IndexError):
            continue  # e.g. too few rows among the incorrect answers
        if len(table):
            parts.append(table.reset_index(drop=True).assign(answers=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def _summary_span(key: str, value: str) -> str:
    return f'<b data-summary="{key}">{html.escape(value)}</b>'


def _declared_metrics(store: RunStore) -> list:
    """The registered metrics this run computed (its config's list; every metric when unknown)."""
    from synfaith.metrics.registry import METRICS, metric_names

    try:
        names = list(store.config().get("metrics", {}).get("compute") or metric_names())
    except (OSError, AttributeError):
        names = metric_names()
    return [METRICS[name] for name in names if name in METRICS]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Analyse a run directory and write ``index.html`` with figures and CSV tables; returns its path."""
    store = RunStore(run_dir)
    rows = store.read_rows()
    if rows.empty:
        raise ValueError(f"{run_dir} holds no result rows; run `synfaith run` first")
    out = Path(out_dir) if out_dir is not None else store.run_dir / "report"
    builder = ReportBuilder(out)
    summary: dict[str, str] = {}
    ok = successful(rows)

    # -- leaderboard ----------------------------------------------------------------------------
    board = builder.section("Leaderboard: F_syn per explainer", "leaderboard",
                            "Mean F_syn (± sd) per explainer and dataset, the paper's Table 1 layout; higher is more synergistic faithfulness.")
    by_dataset = leaderboard(rows, "dataset")
    builder.table(board, "leaderboard_by_dataset", format_mean_sd(by_dataset), "F_syn mean (±sd) by dataset")
    builder.table(board, "leaderboard_by_model", format_mean_sd(leaderboard(rows, "model")), "F_syn mean (±sd) by model")
    counts = successful(rows, "fsyn").pivot_table(index="explainer", columns="dataset", values="fsyn", aggfunc="count")
    counts["failed"] = rows[rows["status"] == "failed"].groupby("explainer").size().reindex(counts.index).fillna(0).astype(int)
    builder.table(board, "leaderboard_counts", counts, "Instances behind each mean (an explainer's failure rows are not in its mean; "
                  "mean ranks and the Wilcoxon tests use only instances every explainer completed)")
    subsets = rows["meta"].map(lambda m: json.loads(m).get("subset") if isinstance(m, str) else None)
    if subsets.notna().any():
        builder.table(board, "leaderboard_by_subset", format_mean_sd(leaderboard(rows.assign(subset=subsets), "subset")),
                      "F_syn mean (±sd) by planted subset (synthetic world): on redundant instances the evidence pair is "
                      "redundant, so even the Oracle's dividend is negative")
    ranks = mean_ranks(rows)
    tests = wilcoxon_against_best(rows)
    builder.table(board, "mean_ranks", ranks.rename("mean rank").to_frame(), "Mean rank per instance (1 = highest F_syn), instances where every explainer succeeded")
    if len(tests):
        builder.table(board, "wilcoxon_vs_best", tests, "Paired two-sided Wilcoxon signed-rank tests against the best mean rank, Bonferroni-corrected", index=False)
    best_mean = by_dataset["mean"]["all"].idxmax()
    summary["best_mean_explainer"] = best_mean
    summary["best_mean_fsyn"] = _fmt(by_dataset["mean"]["all"].max())
    for part_name, part in split_by_correctness(rows).items():
        if part_name != "all" and successful(part, "fsyn").shape[0]:
            builder.table(board, f"leaderboard_{part_name}", format_mean_sd(leaderboard(part, "dataset")),
                          f"F_syn mean (±sd) by dataset, {part_name} answers only")

    # -- mixed model ----------------------------------------------------------------------------
    lmm = builder.section("Mixed-effects model", "mixed-model")
    reference = "random" if "random" in set(ok["explainer"]) else sorted(set(ok["explainer"]))[0]
    try:
        model = fit_mixed_model(rows, reference=reference)
    except Exception as error:  # noqa: BLE001 - a report still renders; the failure is shown
        builder.note(lmm, f"The mixed model could not be fitted: {html.escape(str(error))}", "warning")
        model = None
    if model is not None and len(model.table):
        builder.note(lmm, f"Formula <code>{html.escape(model.formula)}</code>; {html.escape(model.method)}; "
                          f"{model.rows:,} rows, {model.groups:,} groups, fitted in {model.seconds:.1f} s"
                          f"{'' if model.converged else ' — <b>did not converge</b>'}.")
        for note in model.notes:
            builder.note(lmm, html.escape(note), "warning")
        builder.table(lmm, "mixed_model", model.table, f"Explainer coefficients against {reference} (REML), with 95% confidence intervals", index=False)
        builder.figure(lmm, "mixed_model", figures.coefficient_plot(model.table, reference), f"F_syn coefficients against {reference}")
        if rows["dataset"].nunique() > 1:
            per_dataset = mixed_models_per_dataset(rows, reference=reference)
            builder.table(lmm, "mixed_model_per_dataset", per_dataset, "The same model fitted on each dataset alone (the dataset term drops out)", index=False)
        top = model.table.iloc[0]
        summary |= {"lmm_best": str(top["explainer"]), "lmm_best_coefficient": _fmt(top["coefficient"]), "lmm_best_p": f"{top['p_value']:.2g}"}

    # -- every metric of the run, from the metric registry (plugins included) -------------------------
    declared = _declared_metrics(store)
    means = metric_means(rows, [(m.name, m.label or m.name, [c.name for c in m.columns]) for m in declared])
    everything = builder.section("Every metric of this run", "metrics",
                                 "The mean of each metric's value columns per explainer; the metrics and their columns are the "
                                 "metric registry's declarations: " + "; ".join(f"<b>{html.escape(m.label or m.name)}</b> "
                                 f"({html.escape(m.description)})" for m in declared) + ".")
    if means.empty:
        builder.note(everything, "No successful row holds a metric value.", "warning")
    else:
        builder.table(everything, "metric_means", means, "Mean of every metric value per explainer")

    # -- ranking instability ------------------------------------------------------------------------
    instability = builder.section("Unimodal metrics disagree", "ranking-instability",
                                  "Explainers ranked by visual and by textual deletion, insertion and SRG; Kendall τ between the two rankings.")
    agreement = rank_agreement(rows)
    builder.table(instability, "rank_agreement", agreement, "Kendall τ between visual and textual explainer rankings", index=False)
    split = by_correctness(lambda part: rank_agreement(part).query("scope == 'all'"), rows)
    builder.table(instability, "rank_agreement_by_correctness", split, "The same, pooled, for all / correct / incorrect answers", index=False)
    table = rank_table(rows)
    builder.table(instability, "unimodal_ranks", table, "Explainer ranks under each unimodal metric (pooled)")
    builder.figure(instability, "rank_shift", figures.rank_shift(table), "Rank shift between the visual and textual version of each criterion")
    builder.figure(instability, "mean_rank_heatmap", figures.heatmap(mean_rank_heatmap(rows), "mean rank (1 = best)"), "Mean rank of each explainer per metric and dataset")
    pooled = agreement[agreement["scope"] == "all"].set_index("criterion")
    for criterion in ("deletion", "insertion", "srg"):
        summary[f"tau_{criterion}"] = _fmt(pooled.loc[criterion, "kendall_tau"], 2)

    # -- validation -------------------------------------------------------------------------------
    validation = builder.section("F_syn tracks the exact Shapley interaction", "validation",
                                 "F_syn against the exact SII of the 8-player macro game, on the instances where the ground truth was computed.")
    with_sii = successful(rows, "sii")
    if len(with_sii) >= 3:
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
    else:
        builder.note(validation, "This run computed no SII ground truth (metrics.compute without <code>sii</code>, or sii_limit 0).", "warning")

    # -- beyond the paper ---------------------------------------------------------------------------
    why = builder.section("Why unimodal metrics collapse: modality redundancy", "redundancy",
                          "Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅): positive when the answer needs both modalities, negative when either alone suffices.")
    if rows["modality_dividend"].notna().any():
        builder.table(why, "redundancy", redundancy_summary(rows), "Redundancy profile per model and dataset", index=False)
        split = by_correctness(redundancy_summary, rows)
        builder.table(why, "redundancy_by_correctness", split, "Redundancy profile for all / correct / incorrect answers", index=False)
        builder.figure(why, "modality_dividend", figures.dividend_distributions(instance_profiles(rows)), "Distribution of the modality dividend")
    probes = builder.section(
        "Modality influence and unified stability", "probes",
        "Influence: 1 − Spearman between an explainer's attribution for one modality with and without the other "
        "modality (zero-state). Stability: agreement of the joint ranking under small perturbations that keep the answer.",
    )
    probe_columns = ["influence_text_without_image", "influence_image_without_text", "stability_spearman", "stability_top_k"]
    present = [c for c in probe_columns if c in rows and rows[c].notna().any()]
    if present:
        table = successful(rows).groupby("explainer")[present].mean()
        table["instances"] = successful(rows).groupby("explainer")[present[0]].count()
        builder.table(probes, "probes", table, "Mean influence and stability per explainer")
        split = by_correctness(lambda part: successful(part).groupby("explainer")[present].mean().reset_index(), rows)
        builder.table(probes, "probes_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
        builder.note(probes, "An explainer that ignores its input (the seeded Random baseline) has influence 0 and stability 1: "
                             "stability rewards insensitivity, so read it next to F_syn, never alone.")
    else:
        builder.note(probes, "This run did not compute influence or stability (metrics.compute).", "warning")
    efficiency = builder.section("Efficiency and faithfulness", "pareto")
    points = successful(rows, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean"))
    builder.table(efficiency, "pareto", points, "Mean explanation time and F_syn per explainer")
    split = by_correctness(
        lambda part: successful(part, "fsyn").groupby("explainer").agg(seconds=("explain_seconds", "mean"), fsyn=("fsyn", "mean")).reset_index(), rows
    )
    builder.table(efficiency, "pareto_by_correctness", split, "The same for all / correct / incorrect answers", index=False)
    builder.figure(efficiency, "pareto", figures.pareto(points), "Explainer time against F_syn (the red line is the Pareto front)")
    qualitative = builder.section("What the explainers show", "qualitative",
                                  "Instances drawn with a fixed seed; each explainer's visual map over the image, and its query-token scores.")
    _qualitative(builder, qualitative, store, rows)

    failures = rows[rows["status"] == "failed"]
    fails = builder.section("Failures", "failures")
    summary["failure_rows"] = str(len(failures))
    if len(failures):
        by_stage = failures.groupby(["stage", "explainer"]).size().rename("rows").reset_index()
        builder.table(fails, "failures_by_stage", by_stage, "Failure rows by stage and explainer", index=False)
        examples = failures.drop_duplicates("message")[["model", "dataset", "instance_id", "explainer", "stage", "message"]].head(20)
        builder.table(fails, "failure_examples", examples, "Distinct failure messages (first 20)", index=False)
    else:
        builder.note(fails, "No failures.")

    page = _render(store, rows, builder, summary)
    _write_atomically(out / "summary.json", json.dumps(summary, indent=2))
    return _write_atomically(out / "index.html", page)


def _qualitative(builder: ReportBuilder, section: Section, store: RunStore, rows: pd.DataFrame, n: int = 3) -> None:
    from synfaith.runs.config import parse_config
    from synfaith.runs.runner import open_sources

    ok = successful(rows, "fsyn")
    explainers = sorted(ok["explainer"].unique())
    complete = ok.groupby(["model", "dataset", "instance_id"])["explainer"].nunique()
    candidates = complete[complete == len(explainers)].index.tolist()
    if not candidates:
        builder.note(section, "No instance has results from every explainer.", "warning")
        return
    chosen = [candidates[i] for i in sorted(np.random.default_rng(QUALITATIVE_SEED).choice(len(candidates), min(n, len(candidates)), replace=False))]
    try:
        config = parse_config(store.config())
        sources = {d.label: s for d, (s, _) in zip(config.datasets, open_sources(config))}
    except Exception as error:  # noqa: BLE001 - images may live on another machine
        builder.note(section, f"Images are not available here ({html.escape(str(error))}); maps are in the rows.", "warning")
        return
    examples, token_tables = [], []
    for model, dataset, instance_id in chosen:
        source = sources.get(dataset)
        part = ok[(ok.model == model) & (ok.dataset == dataset) & (ok.instance_id == instance_id)].set_index("explainer")
        first = part.iloc[0]
        index = int(first["instance_index"])  # stored by the runner: no scan of the dataset's ids
        if source is None or index >= len(source) or source.row_id(index) != instance_id:
            continue
        instance = source.row(index)
        shape = (int(first["unit_grid_rows"]), int(first["unit_grid_cols"]))
        grid = np.arange(shape[0] * shape[1]) if first["unit_grid"] is None else np.asarray(first["unit_grid"])
        grid = grid.reshape(shape)
        maps = {e: np.asarray(part.loc[e, "image_scores"])[grid] for e in explainers}
        examples.append({"image": instance.load_image(), "maps": maps, "title": f"{instance_id}\n{first['answer']} ({'✓' if first['correct'] else '✗'})"})
        tokens = list(first["text_units"]) if first["text_units"] is not None else [f"t{i}" for i in range(int(first["n_text_units"]))]
        token_tables.append(_token_html(instance_id, model, instance.question, tokens, {e: np.asarray(part.loc[e, "text_scores"]) for e in explainers}))
    if examples:
        builder.figure(section, "qualitative", figures.qualitative_grid(examples, explainers), "Visual maps per explainer (warmer = higher score)")
        section.parts.extend(token_tables)


def _token_html(instance_id: str, model: str, question: str, tokens: list[str], scores: dict[str, np.ndarray]) -> str:
    lines = [f'<div class="tokens"><p><b>{html.escape(instance_id)}</b> ({html.escape(model)}): {html.escape(question)}</p><table>']
    for explainer, values in scores.items():
        low, high = float(values.min()), float(values.max())
        cells = []
        for token, value in zip(tokens, values):
            weight = 0.0 if high == low else (float(value) - low) / (high - low)
            cells.append(f'<span style="background: rgba(220, 60, 30, {weight:.2f})">{html.escape(token)}</span>')
        lines.append(f"<tr><th>{html.escape(explainer)}</th><td>{''.join(cells)}</td></tr>")
    lines.append("</table></div>")
    return "".join(lines)


STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.summary { background: #f5f7fa; border-left: 4px solid #3a6ea5; padding: 0.6em 1.2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; } th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; text-align: right; }
th { background: #fafafa; } figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; } img { max-width: 100%; }
.warning { color: #8a4b00; background: #fff6e5; padding: 0.3em 0.6em; } .note { color: #444; }
.tokens td { text-align: left; } .tokens span { padding: 0 1px; border-radius: 2px; }
nav a { margin-right: 1em; font-size: 0.9em; }
"""

CHECK_SCRIPT = """
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', loaded + '/' + images.length);
  document.body.setAttribute('data-errors', String(window.__errors.length));
});
"""


def _render(store: RunStore, rows: pd.DataFrame, builder: ReportBuilder, summary: dict[str, str]) -> str:
    ok = successful(rows)
    models, datasets, explainers = (sorted(rows[c].unique()) for c in ("model", "dataset", "explainer"))
    s = lambda key: _summary_span(key, summary.get(key, "—"))  # noqa: E731
    points = [
        f"<li><b>Who leads.</b> Highest mean F_syn: {s('best_mean_explainer')} ({s('best_mean_fsyn')})"
        + (f"; the mixed model's largest coefficient over Random: {s('lmm_best')} ({s('lmm_best_coefficient')}, p = {s('lmm_best_p')})." if "lmm_best" in summary else ".")
        + "</li>",
        f"<li><b>Unimodal metrics disagree.</b> Kendall τ between the visual and the textual explainer ranking: deletion {s('tau_deletion')}, "
        f"insertion {s('tau_insertion')}, SRG {s('tau_srg')} (1 = same order, −1 = reversed).</li>",
    ]
    if "fsyn_sii_spearman" in summary:
        points.append(
            f"<li><b>F_syn tracks the exact interaction.</b> Spearman ρ = {s('fsyn_sii_spearman')}, Kendall τ = {s('fsyn_sii_kendall')} "
            f"over {s('fsyn_sii_pairs')} (instance, explainer) pairs, while the SII ground truth needs {s('sii_cost_ratio')}× the evaluations.</li>"
        )
    points.append(f"<li><b>Failures.</b> {s('failure_rows')} failure rows (see <a href='#failures'>Failures</a>).</li>")
    nav = " ".join(f'<a href="#{sec.anchor}">{html.escape(sec.title)}</a>' for sec in builder.sections)
    body = []
    for sec in builder.sections:
        body.append(f'<section id="{sec.anchor}"><h2>{html.escape(sec.title)}</h2>')
        if sec.intro:
            body.append(f"<p>{html.escape(sec.intro)}</p>")
        body.extend(sec.parts)
        body.append("</section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>synfaith report — {html.escape(store.run_dir.name)}</title>
<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head>
<body>
<h1>synfaith report</h1>
<p>Run <code>{html.escape(str(store.run_dir))}</code>: {len(rows):,} rows ({len(ok):,} ok) — models {html.escape(', '.join(models))};
datasets {html.escape(', '.join(datasets))}; {len(explainers)} explainers.</p>
<div class="summary"><h2 style="border:0;margin-top:0.3em">Summary</h2><ul>{''.join(points)}</ul></div>
<nav>{nav}</nav>
{''.join(body)}
<footer><p class="note">Written by <code>synfaith report</code>. Tables as CSV in <code>tables/</code>, figures as PNG in <code>figures/</code>.</p></footer>
</body></html>
"""
