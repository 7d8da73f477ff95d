"""The dividend figures: F_syn's deletion and insertion dividend curves, per-stratum means, Δ against F_syn.

Each function takes a table of :mod:`synfaith.report.figure_data` and returns a Figure; every
explainer keeps its colour of :func:`~synfaith.report.figures.explainer_colours` (the curves are
small multiples per explainer, coloured by stratum), and every interval is a 95% percentile
bootstrap over instances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synfaith.report.figures import explainer_colours, plt

CURVE_TITLES = {
    "deletion": "deletion: S_del(t) = v(V,T) − v(V∖A,T) − v(V,T∖B) + v(V∖A,T∖B)",
    "insertion": "insertion: S_ins(t) = v(A,B) − v(A,∅) − v(∅,B) + v(∅,∅)",
}


STRATUM_COLOURS = {"all": "#222222", "synergistic": "#b2182b", "redundant": "#2166ac", "neutral": "#999999"}


def dividend_curve_figure(curves: pd.DataFrame, curve: str):
    """Small multiples, one panel per explainer (shared axes): the mean dividend curve ``curve``
    (``"deletion"`` S_del(t) or ``"insertion"`` S_ins(t)) of all instances and of each stratum, with 95% CI bands."""
    part = curves[curves["curve"] == curve]
    explainers = sorted(part["explainer"].unique())
    strata = list(dict.fromkeys(part["stratum"]))
    columns = min(4, len(explainers))
    grid_rows = -(-len(explainers) // columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(2.6 * columns + 1.4, 2.2 * grid_rows + 0.6), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.ravel()):
        if k >= len(explainers):
            ax.set_visible(False)
            continue
        own = part[part["explainer"] == explainers[k]]
        for stratum in strata:
            line = own[own["stratum"] == stratum].sort_values("t")
            if line.empty:
                continue
            colour = STRATUM_COLOURS.get(stratum, "#999999")
            ax.plot(line["t"], line["mean"], "-o", ms=2, lw=1.3, color=colour, label=f"{stratum} (n = {int(line['n'].max())})")
            if line["ci_low"].notna().any():
                ax.fill_between(line["t"], line["ci_low"], line["ci_high"], color=colour, alpha=0.13, lw=0)
        ax.axhline(0, color="grey", lw=0.7, ls="--")
        ax.set_title(explainers[k], fontsize=8)
        if k + columns >= len(explainers):  # the lowest panel of its column carries the x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("fraction t of units per modality", fontsize=7.5)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"mean S_{curve[:3]}(t)")
    handles = [plt.Line2D([], [], color=STRATUM_COLOURS.get(s, "#999999"), lw=2, label=s) for s in strata]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False, title="instances", title_fontsize=7)
    fig.suptitle(CURVE_TITLES[curve] + ", A, B = the top-ranked fraction t of image and query units", fontsize=8.5)
    return fig


def stratum_bar_figure(means: pd.DataFrame, metric_label: str = "F_syn"):
    """Mean ``metric_label`` per explainer (bars, the explainer's colour) in each stratum, with 95% bootstrap CIs."""
    strata = list(dict.fromkeys(means["stratum"]))
    explainers = sorted(means["explainer"].unique())
    colours = explainer_colours(explainers)
    width = 0.8 / max(len(explainers), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 0.32 * len(explainers) * len(strata)), 3.6), layout="constrained")
    for k, explainer in enumerate(explainers):
        own = means[means["explainer"] == explainer].set_index("stratum").reindex(strata)
        x = np.arange(len(strata)) - 0.4 + width * (k + 0.5)
        low = (own["mean"] - own["ci_low"]).clip(lower=0).fillna(0)
        high = (own["ci_high"] - own["mean"]).clip(lower=0).fillna(0)
        ax.bar(x, own["mean"], width, color=colours[explainer], label=explainer)
        ax.errorbar(x, own["mean"], yerr=[low, high], fmt="none", ecolor="black", elinewidth=0.8, capsize=1.5)
    sizes = means.groupby("stratum", sort=False)["n"].max()
    ax.set_xticks(range(len(strata)), [f"{s}\n(n = {int(sizes[s])})" for s in strata])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel(f"mean {metric_label} (95% CI)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), title="explainer", title_fontsize=7)
    return fig


def delta_fsyn_figure(points: pd.DataFrame, correlations: pd.DataFrame, threshold: float):
    """Small multiples: F_syn against the instance's modality dividend Δ, one panel per explainer (shared axes);
    the band |Δ| ≤ ``threshold`` is the neutral stratum, and each title gives Spearman ρ(Δ, F_syn)."""
    explainers = sorted(points["explainer"].unique())
    colours = explainer_colours(explainers)
    columns = min(4, len(explainers))
    grid_rows = -(-len(explainers) // columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(2.5 * columns + 0.3, 2.3 * grid_rows + 0.3), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    rho = correlations.set_index("explainer")["spearman"]
    for ax, explainer in zip(axes.ravel(), explainers):
        own = points[points["explainer"] == explainer]
        ax.axvspan(-threshold, threshold, color="#eeeeee", lw=0)
        ax.axhline(0, color="grey", lw=0.7, ls="--")
        ax.axvline(0, color="grey", lw=0.7, ls="--")
        ax.scatter(own["modality_dividend"], own["fsyn"], s=12, alpha=0.8, color=colours[explainer], edgecolors="none")
        value = rho.get(explainer, np.nan)
        ax.set_title(f"{explainer}  ρ = {'—' if not np.isfinite(value) else f'{value:.2f}'} (n = {len(own)})", fontsize=7.5)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(explainers):
            ax.set_visible(False)
        elif k + columns >= len(explainers):  # the lowest panel of its column carries the x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("modality dividend Δ")
    for ax in axes[:, 0]:
        ax.set_ylabel("F_syn")
    return fig
