"""The report's qualitative section: a few instances (fixed seed) with each explainer's visual map and token scores."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from synfaith.analysis.rows import NotComputable, require_values
from synfaith.report import figures
from synfaith.report.page import ReportBuilder, Section
from synfaith.runs.store import RunStore

QUALITATIVE_SEED = 0


def qualitative_section(builder: ReportBuilder, section: Section, store: RunStore, rows: pd.DataFrame, n: int = 3) -> None:
    from synfaith.runs.config import parse_config
    from synfaith.runs.runner import open_sources

    try:
        ok = require_values(rows, "fsyn")
    except NotComputable as reason:
        builder.skip(section, "visual maps and token scores", str(reason))
        return
    explainers = sorted(ok["explainer"].unique())
    complete = ok.groupby(["model", "dataset", "instance_id"])["explainer"].nunique()
    candidates = complete[complete == len(explainers)].index.tolist()
    if not candidates:
        builder.skip(section, "visual maps and token scores", "no instance has results from every explainer")
        return
    chosen = [candidates[i] for i in sorted(np.random.default_rng(QUALITATIVE_SEED).choice(len(candidates), min(n, len(candidates)), replace=False))]
    try:
        config = parse_config(store.config())
        sources = {d.label: s for d, (s, _) in zip(config.datasets, open_sources(config))}
    except Exception as error:  # noqa: BLE001 - images may live on another machine
        builder.skip(section, "visual maps over the images", f"the images are not available here ({error}); the maps are in the rows")
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
        token_tables.append(token_html(instance_id, model, instance.question, tokens, {e: np.asarray(part.loc[e, "text_scores"]) for e in explainers}))
    if examples:
        builder.figure(section, "qualitative", figures.qualitative_grid(examples, explainers), "Visual maps per explainer (warmer = higher score)")
        section.parts.extend(token_tables)


def token_html(instance_id: str, model: str, question: str, tokens: list[str], scores: dict[str, np.ndarray]) -> str:
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
