"""Explainers side by side on planted ground truth: F_syn and plausibility (pointing game).

Pure functions over rows (see :func:`synfaith.runs.planted.planted_rows` for producing them):
per explainer, F_syn (docs/design.md §3), the pointing-game hit rates — does the top-ranked
visual unit overlap an evidence box, is the top-ranked query token a deciding word — the wall
time and model calls per explanation, and how many explanations failed (e.g. a map that is
flat everywhere). Plausibility and faithfulness are different questions: the paper's point is
that an explainer can point well and still miss the cross-modal synergy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class ExplainerSummary:
    """One explainer's per-instance results over a set of instances."""

    explainer: str
    fsyn: list[float] = field(default_factory=list)
    visual_hits: list[bool] = field(default_factory=list)
    text_hits: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    model_calls: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


def _reason(message: str) -> str:
    return str(message).split(": ", 2)[-1].split(" (")[0]


def summarise_planted(rows: pd.DataFrame, explainers: Sequence[str] | None = None) -> list[ExplainerSummary]:
    """One summary per explainer (in ``explainers`` order, default: as they appear) over rows
    of instances with evidence boxes (rows without a pointing value are left out)."""
    names = list(explainers) if explainers is not None else list(dict.fromkeys(rows["explainer"]))
    summaries = []
    for name in names:
        mine = rows[rows["explainer"] == name]
        failed = mine[mine["status"] == "failed"] if "message" in mine else mine.iloc[0:0]
        ok = mine[(mine["status"] == "ok") & mine["pointing_image"].notna()]
        summaries.append(
            ExplainerSummary(
                explainer=name,
                fsyn=ok["fsyn"].astype(float).tolist(),
                visual_hits=(ok["pointing_image"] > 0).tolist(),
                text_hits=(ok["pointing_text"].fillna(0) > 0).tolist(),
                seconds=ok["explain_seconds"].astype(float).tolist(),
                model_calls=ok["explain_model_calls"].astype(int).tolist(),
                failures=dict(Counter(_reason(m) for m in failed.get("message", []))),
            )
        )
    return summaries


def markdown_table(summaries: Sequence[ExplainerSummary]) -> list[str]:
    """The summaries as markdown lines, in the given order."""
    lines = [
        "| explainer | n | F_syn mean ± sd | pointing: image | pointing: text | ms / explanation | model calls | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        failed = sum(s.failures.values())
        if not s.fsyn:
            lines.append(f"| {s.explainer} | 0 | — | — | — | — | — | {failed} |")
            continue
        lines.append(
            f"| {s.explainer} | {len(s.fsyn)} | {np.mean(s.fsyn):.3f} ± {np.std(s.fsyn, ddof=1) if len(s.fsyn) > 1 else 0:.3f} "
            f"| {np.mean(s.visual_hits):.2f} | {np.mean(s.text_hits):.2f} | {1000 * np.mean(s.seconds):.1f} "
            f"| {np.mean(s.model_calls):.0f} | {failed} |"
        )
    return lines
