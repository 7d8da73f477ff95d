"""The report's figures (matplotlib, Agg backend): each function takes tables and returns a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def rank_shift(ranks: pd.DataFrame):
    """Slope chart: each explainer's rank under the visual vs the textual version of every criterion."""
    criteria = [c.split(" ", 1)[1] for c in ranks.columns if c.startswith("visual ")]
    fig, axes = plt.subplots(1, len(criteria), figsize=(3.2 * len(criteria), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    colours = plt.cm.tab20(np.linspace(0, 1, max(len(ranks), 2)))
    for ax, criterion in zip(axes, criteria):
        for colour, (explainer, row) in zip(colours, ranks.iterrows()):
            ax.plot([0, 1], [row[f"visual {criterion}"], row[f"textual {criterion}"]], "-o", color=colour, lw=1.5, ms=4)
            ax.annotate(explainer, (1.03, row[f"textual {criterion}"]), fontsize=7, va="center", color=colour)
        ax.set_xticks([0, 1], ["visual", "textual"])
        ax.set_xlim(-0.1, 1.6)
        ax.set_title(criterion)
    axes[0].set_ylabel("rank (1 = best)")
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def heatmap(table: pd.DataFrame, title: str, fmt: str = "{:.1f}"):
    """A labelled heatmap of a numeric table (rows × columns)."""
    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.55 * table.shape[1]), max(2.4, 0.8 + 0.35 * table.shape[0])))
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=6, color="white")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig


def fsyn_sii_scatter(rows: pd.DataFrame):
    """F_syn against the SII ground truth, one colour per explainer."""
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    for explainer, part in rows.groupby("explainer"):
        ax.scatter(part["sii"], part["fsyn"], s=12, alpha=0.7, label=explainer)
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


def qualitative_grid(examples: list[dict], explainers: list[str]):
    """Images with each explainer's visual map (unit grid, upsampled) over them; one row per instance."""
    columns = 1 + len(explainers)
    fig, axes = plt.subplots(len(examples), columns, figsize=(1.5 * columns, 1.6 * len(examples)), squeeze=False)
    for r, example in enumerate(examples):
        image = np.asarray(example["image"])
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(example["title"], fontsize=6)
        for c, explainer in enumerate(explainers, 1):
            ax = axes[r, c]
            ax.imshow(image)
            heat = example["maps"].get(explainer)
            if heat is not None:
                ax.imshow(heat, cmap="jet", alpha=0.5, extent=(0, image.shape[1], image.shape[0], 0), interpolation="nearest")
            if r == 0:
                ax.set_title(explainer, fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
