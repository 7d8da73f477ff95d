"""The report's figures (matplotlib, Agg backend): each function takes tables and returns a Figure.

Every explainer has one colour on every figure (:func:`explainer_colours`); rank axes carry
integer ticks; text on a coloured cell is black or white by the cell's luminance.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})

# One fixed colour per built-in explainer (Tableau 10 plus black, grey and buff), so an explainer
# looks the same on every figure of every report; other labels take FALLBACK_COLOURS in name order.
EXPLAINER_COLOURS = {
    "random": "#7f7f7f",
    "oracle": "#222222",
    "reverse_oracle": "#c2b280",
    "input_gradients": "#1f77b4",
    "integrated_gradients": "#ff7f0e",
    "gradcam": "#2ca02c",
    "rollout": "#d62728",
    "grad_rollout": "#9467bd",
    "attnlrp": "#8c564b",
    "llava_cam": "#e377c2",
    "tam": "#bcbd22",
    "multishap": "#17becf",
}
# further colours at CIE ΔE*ab ≥ 22 from every fixed colour and from each other (Kelly's and Trubetskoy's lists)
FALLBACK_COLOURS = ("#f3c300", "#008856", "#f99379", "#b3446c", "#882d17", "#a1caf1", "#e68fac", "#000075",
                    "#808000", "#f032e6", "#4363d8", "#911eb4", "#9a6324", "#bfef45")


def explainer_colours(names: Iterable[str]) -> dict[str, str]:
    """``{explainer: colour}``: the fixed colour of a built-in explainer, else the next unused fallback colour.

    Names past the fixed and fallback colours cycle through matplotlib's ``tab20`` (then colours repeat).
    """
    names = list(dict.fromkeys(names))
    colours = {n: EXPLAINER_COLOURS[n] for n in names if n in EXPLAINER_COLOURS}
    spare = [c for c in FALLBACK_COLOURS if c not in colours.values()]
    for k, name in enumerate(sorted(n for n in names if n not in colours)):
        colours[name] = spare[k] if k < len(spare) else plt.cm.tab20(k % 20)
    return {n: colours[n] for n in names}


def relative_luminance(colour) -> float:
    """WCAG relative luminance L = 0.2126 R + 0.7152 G + 0.0722 B of the linearised sRGB components
    (c ≤ 0.04045: c / 12.92, else ((c + 0.055) / 1.055)^2.4)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a, b) -> float:
    """WCAG contrast ratio (L_light + 0.05) / (L_dark + 0.05) of two colours, from 1 to 21."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def text_colour(background) -> str:
    """Black or white, whichever has the higher :func:`contrast_ratio` on ``background`` (always ≥ 4.58)."""
    return "black" if contrast_ratio("black", background) >= contrast_ratio("white", background) else "white"


def rank_shift(ranks: pd.DataFrame):
    """Slope chart: each explainer's rank under the visual vs the textual version of every criterion."""
    criteria = [c.split(" ", 1)[1] for c in ranks.columns if c.startswith("visual ")]
    fig, axes = plt.subplots(1, len(criteria), figsize=(3.2 * len(criteria), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    colours = explainer_colours(ranks.index)
    for ax, criterion in zip(axes, criteria):
        for explainer, row in ranks.iterrows():
            colour = colours[explainer]
            ax.plot([0, 1], [row[f"visual {criterion}"], row[f"textual {criterion}"]], "-o", color=colour, lw=1.5, ms=4)
            ax.annotate(explainer, (1.03, row[f"textual {criterion}"]), fontsize=7, va="center", color=colour)
        ax.set_xticks([0, 1], ["visual", "textual"])
        ax.set_xlim(-0.1, 1.6)
        ax.set_title(criterion)
    axes[0].set_yticks(range(1, len(ranks) + 1))  # ranks are whole places (a tie sits between two)
    axes[0].set_ylim(len(ranks) + 0.5, 0.5)
    axes[0].set_ylabel("rank (1 = best)")
    fig.tight_layout()
    return fig


def heatmap(table: pd.DataFrame, title: str, fmt: str = "{:.1f}", integer_scale: bool = False):
    """A labelled heatmap of a numeric table (rows × columns); each value is printed in its cell in
    black or white by the cell's luminance (:func:`text_colour`). ``integer_scale``: whole-number
    colour-bar ticks (ranks)."""
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(3.0, 1.2 + 0.65 * table.shape[1]), max(2.4, 0.9 + 0.42 * table.shape[0])))
    image = ax.imshow(values, cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7, color=text_colour(image.cmap(image.norm(value))))
    ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, fraction=0.03)
    if integer_scale:
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def fsyn_sii_scatter(rows: pd.DataFrame):
    """F_syn against the SII ground truth, one colour per explainer."""
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    colours = explainer_colours(sorted(rows["explainer"].unique()))
    for explainer, part in rows.groupby("explainer"):
        ax.scatter(part["sii"], part["fsyn"], s=12, alpha=0.7, label=explainer, color=colours[explainer])
    low = float(np.nanmin([rows["sii"].min(), rows["fsyn"].min()]))
    high = float(np.nanmax([rows["sii"].max(), rows["fsyn"].max()]))
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("exact SII ground truth")
    ax.set_ylabel("F_syn")
    ax.legend(fontsize=6, ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def coefficient_plot(table: pd.DataFrame, reference: str):
    """Mixed-model explainer coefficients with 95% confidence intervals."""
    ordered = table.sort_values("coefficient")
    fig, ax = plt.subplots(figsize=(4.8, 0.6 + 0.3 * len(ordered)))
    y = np.arange(len(ordered))
    ax.errorbar(ordered["coefficient"], y, xerr=[ordered["coefficient"] - ordered["ci_low"], ordered["ci_high"] - ordered["coefficient"]],
                fmt="o", color="black", ecolor="grey", capsize=2)
    ax.axvline(0, color="firebrick", lw=0.8)
    ax.set_yticks(y, ordered["explainer"])
    ax.set_xlabel(f"F_syn coefficient vs {reference} (95% CI)")
    fig.tight_layout()
    return fig


def dividend_distributions(profiles: pd.DataFrame):
    """Distribution of the modality dividend per model × dataset (violins)."""
    groups = list(profiles.groupby(["model", "dataset"]))
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(groups), 3.2))
    data = [part["modality_dividend"].to_numpy() for _, part in groups]
    if all(len(d) > 1 for d in data):
        ax.violinplot(data, showmedians=True)
    else:
        ax.boxplot(data)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(1, len(groups) + 1), [f"{m}\n{d}" for (m, d), _ in groups], fontsize=7)
    ax.set_ylabel("modality dividend Δ")
    fig.tight_layout()
    return fig


def pareto(points: pd.DataFrame):
    """Mean explanation time (log scale) against mean F_syn, with the Pareto front."""
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.scatter(points["seconds"], points["fsyn"], color="black", s=14)
    for explainer, row in points.iterrows():
        ax.annotate(explainer, (row["seconds"], row["fsyn"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = points.sort_values("seconds")
    front = front[front["fsyn"] >= front["fsyn"].cummax()]
    ax.step(front["seconds"], front["fsyn"], where="post", color="firebrick", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("mean seconds per explanation (log)")
    ax.set_ylabel("mean F_syn")
    fig.tight_layout()
    return fig
