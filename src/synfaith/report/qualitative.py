"""The report's qualitative section: the chosen instances (:mod:`synfaith.report.examples`), each drawn
with every explainer's map (:func:`~synfaith.report.figures_maps.qualitative_figure`) and its
query-token scores, then the stored interaction matrices (MultiSHAP) of the same instances."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from synfaith.analysis.rows import successful
from synfaith.report.examples import Example
from synfaith.report.figures_maps import InstanceMaps, InteractionMatrix, interaction_figure, qualitative_figure
from synfaith.report.page import ReportBuilder, Section
from synfaith.runs.store import RunStore


def figure_name(prefix: str, example: Example, several_sources: bool) -> str:
    """A file-safe figure name for ``example`` (model and dataset in it when the run has several)."""
    parts = [example.model, example.dataset, example.instance_id] if several_sources else [example.instance_id]
    return prefix + "_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts))


def _title(example: Example, first: pd.Series) -> str:
    delta = "Δ not computed" if not np.isfinite(example.delta) else f"Δ = {example.delta:+.3f}"
    verdict = "unknown" if pd.isna(first["correct"]) else "right" if bool(first["correct"]) else "wrong"
    return (f"{example.instance_id} ({example.model}, {example.dataset}) — {example.stratum} stratum, {delta}; "
            f"answer {first['answer']} ({verdict}; reference {first['reference_answer']})")


def _grid(first: pd.Series) -> np.ndarray:
    shape = (int(first["unit_grid_rows"]), int(first["unit_grid_cols"]))
    grid = np.arange(shape[0] * shape[1]) if first["unit_grid"] is None else np.asarray(first["unit_grid"])
    return grid.reshape(shape)


def _tokens(first: pd.Series) -> list[str]:
    return [str(t) for t in first["text_units"]] if first["text_units"] is not None else [f"t{i}" for i in range(int(first["n_text_units"]))]


def _open_sources(store: RunStore):
    """The run's datasets by label; only they are needed (explainers a wrapper registered need not be known here)."""
    from synfaith.data import open_dataset
    from synfaith.runs.config import DatasetConfig

    datasets = [DatasetConfig.model_validate(d) for d in store.config().get("datasets") or []]
    return {d.label: open_dataset(d.kind, **d.options) for d in datasets}


def qualitative_section(builder: ReportBuilder, section: Section, store: RunStore, rows: pd.DataFrame, examples: list[Example]) -> None:
    """A maps figure and a token table per example, then the interaction matrices; a skip note where images are missing."""
    for stale in [*builder.out_dir.glob("figures/qualitative_*.png"), *builder.out_dir.glob("figures/*_interactions.png")]:
        stale.unlink(missing_ok=True)  # an earlier report of other examples: its figures would not be on this page
    ok = successful(rows, "fsyn")
    explainers = sorted(ok["explainer"].unique())
    several = ok.drop_duplicates(["model", "dataset"]).shape[0] > 1
    try:
        sources = _open_sources(store)
    except Exception as error:  # noqa: BLE001 - images may live on another machine
        sources = None
        builder.skip(section, "visual maps over the images", f"the images are not available here ({error}); the maps are in the rows")
    for example in examples if sources is not None else []:
        part = ok[(ok.model == example.model) & (ok.dataset == example.dataset) & (ok.instance_id == example.instance_id)].set_index("explainer")
        first = part.iloc[0]
        source, index = sources.get(example.dataset), int(first["instance_index"])  # the runner stores the index: no scan
        if source is None or index >= len(source) or source.row_id(index) != example.instance_id:
            builder.skip(section, f"maps of {example.instance_id}", "its dataset no longer holds it at the stored position")
            continue
        instance = source.row(index)
        grid, tokens = _grid(first), _tokens(first)
        truth = instance.ground_truth
        maps = InstanceMaps(
            title=_title(example, first),
            question=instance.question,
            image=np.asarray(instance.load_image()),
            boxes=tuple((b.left, b.top, b.right, b.bottom) for b in truth.boxes) if truth else (),
            tokens=tokens,
            deciding=frozenset(w.lower() for w in truth.words) if truth else frozenset(),
            maps={e: np.asarray(part.loc[e, "image_scores"])[grid] for e in part.index},
            text_scores={e: np.asarray(part.loc[e, "text_scores"]) for e in part.index},
            fsyn={e: float(part.loc[e, "fsyn"]) for e in part.index},
        )
        shown = [e for e in explainers if e in part.index]
        builder.figure(section, figure_name("qualitative", example, several), qualitative_figure(maps, shown),
                       f"{maps.title}. Each explainer's visual map (one-hue, normalised per map) over a greyscale copy of the image, "
                       f"evidence boxes outlined, query-token scores beneath, F_syn under each map; shown: {example.chosen_by}.")
        section.parts.append(token_html(example.instance_id, example.model, instance.question, tokens, maps.text_scores))
    _interactions(builder, section, rows, examples)


def _unit_labels(first: pd.Series) -> list[str]:
    grid = _grid(first)
    labels = [f"u{u}" for u in range(int(first["n_image_units"]))]
    for (r, c), unit in reversed(list(np.ndenumerate(grid))):  # reversed: the first cell of a unit names it
        if 0 <= unit < len(labels):
            labels[unit] = f"{r},{c}"
    return labels


def _interactions(builder: ReportBuilder, section: Section, rows: pd.DataFrame, examples: list[Example]) -> None:
    """The stored image × text interaction matrices of the chosen examples, one figure per explainer that stores them."""
    ok = successful(rows)
    has = ok[ok["interaction_matrix"].notna()] if "interaction_matrix" in ok else ok.iloc[0:0]
    missing = sorted(set(ok.loc[ok["explainer"].str.contains("multishap"), "explainer"]) - set(has["explainer"]))
    if missing:
        builder.skip(section, f"interaction matrices of {', '.join(missing)}",
                     "its rows hold no interaction matrix (written by a synfaith that did not store it); run it again into a new --output_path to draw it")
    for explainer, own in has.groupby("explainer"):
        matrices = []
        for example in examples:
            match = own[(own.model == example.model) & (own.dataset == example.dataset) & (own.instance_id == example.instance_id)]
            if match.empty:
                continue
            line = match.iloc[0]
            shape = (int(line["n_image_units"]), int(line["n_text_units"]))
            matrices.append(InteractionMatrix(f"{explainer}: {example.instance_id} ({example.stratum})",
                                              np.asarray(line["interaction_matrix"], dtype=float).reshape(shape), _unit_labels(line), _tokens(line)))
        if matrices:
            builder.figure(section, f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', explainer)}_interactions", interaction_figure(matrices),
                           f"{explainer}'s image-unit × query-token interaction matrix Φ (Shapley interaction index spread over "
                           "the units of each player pair) for the instances above; red = synergy, blue = redundancy.")


def token_html(instance_id: str, model: str, question: str, tokens: list[str], scores: dict[str, np.ndarray]) -> str:
    """The query tokens of one instance as an HTML table, one line per explainer, each token shaded by its min–max normalised score."""
    lines = [f'<div class="tokens"><p><b>{html.escape(instance_id)}</b> ({html.escape(model)}): {html.escape(question)}</p><table>']
    for explainer, values in scores.items():
        low, high = float(values.min()), float(values.max())
        cells = []
        for token, value in zip(tokens, values):
            weight = 0.0 if high == low else (float(value) - low) / (high - low)
            cells.append(f'<span style="background: rgba(203, 24, 29, {weight:.2f})">{html.escape(token)}</span>')
        lines.append(f"<tr><th>{html.escape(explainer)}</th><td>{''.join(cells)}</td></tr>")
    lines.append("</table></div>")
    return "".join(lines)
