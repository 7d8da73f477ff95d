"""The report's dividend section: F_syn's deletion/insertion dividend curves, mean F_syn per stratum,
and F_syn against the instance's modality dividend Δ — each figure beside the CSV table it draws."""

from __future__ import annotations

from synfaith.analysis.rows import NotComputable
from synfaith.analysis.strata import StratumRule
from synfaith.report import figure_data, figures_curves
from synfaith.report.page import ReportBuilder


def dividend_section(builder: ReportBuilder, rows, rule: StratumRule = StratumRule()) -> None:
    """Write the section ``dividends``: three figures and their tables, or a note saying why each is missing."""
    section = builder.section(
        "Where F_syn comes from: dividend curves and strata", "dividends",
        "F_syn averages, over the steps t_k, the Harsanyi dividend of the top-ranked image units A = I_t and query units B = T_t: "
        "at the top of the lattice (deletion, everything else present) and at its bottom (insertion, everything else at the "
        "zero-state). The curves show where along the ranking the dividend is earned; strata split instances by the model's own "
        f"modality dividend Δ ({rule.describe('synergistic')} synergistic, {rule.describe('redundant')} redundant, "
        f"{rule.describe('neutral')} neutral). Bands and bars are 95% percentile bootstrap intervals over instances.")
    keyed = figure_data.with_strata(rows, rule)
    try:
        curves = figure_data.dividend_curves(keyed)
    except NotComputable as reason:
        builder.skip(section, "dividend curves", str(reason))
    else:
        builder.table(section, "fsyn_dividend_curves", curves, "Mean dividend S(t_k) per stratum, explainer, curve and step, "
                      "with its 95% bootstrap interval over instances", index=False)
        for curve in ("deletion", "insertion"):
            builder.figure(section, f"fsyn_{curve}_curves", figures_curves.dividend_curve_figure(curves, curve),
                           f"Mean {curve} dividend curve per explainer, for all instances and each stratum (95% bootstrap bands)")
    try:
        means = figure_data.stratum_means(keyed)
    except NotComputable as reason:
        builder.skip(section, "F_syn per stratum", str(reason))
    else:
        builder.table(section, "fsyn_by_stratum", means, "Mean F_syn per stratum and explainer with its 95% bootstrap interval", index=False)
        builder.figure(section, "fsyn_by_stratum", figures_curves.stratum_bar_figure(means),
                       "Mean F_syn per explainer in each stratum (95% bootstrap intervals over instances)")
    try:
        points, correlations = figure_data.delta_fsyn_points(keyed)
    except NotComputable as reason:
        builder.skip(section, "F_syn against the modality dividend Δ", str(reason))
    else:
        builder.table(section, "fsyn_vs_delta", correlations, "Spearman ρ between the instance's modality dividend Δ and F_syn, "
                      "per explainer", index=False)
        builder.figure(section, "fsyn_vs_delta", figures_curves.delta_fsyn_figure(points, correlations, rule.threshold),
                       f"F_syn against the instance's modality dividend Δ, per explainer; the grey band is the neutral stratum "
                       f"({rule.describe('neutral')})")
