"""Explainers side by side on planted ground truth: F_syn and plausibility (pointing game).

For every instance with evidence boxes, every explainer explains the model's own answer;
the table reports F_syn (DESIGN.md §3), the pointing-game hit rates — does the top-ranked
visual unit overlap an evidence box, is the top-ranked query token a deciding word — the
wall time and model calls per explanation, and how many explanations failed (e.g. a map
that is flat everywhere). Plausibility and faithfulness are different questions: the paper's
point is that an explainer can point well and still miss the cross-modal synergy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from synfaith.data.instance import Instance
from synfaith.explainers import AttributionError, get_explainer
from synfaith.metrics import synergistic_faithfulness

PAPER_EXPLAINERS = (
    "random",
    "integrated_gradients",
    "input_gradients",
    "gradcam",
    "rollout",
    "grad_rollout",
    "attnlrp",
    "llava_cam",
    "tam",
)
DEFAULT_EXPLAINERS = ("oracle",) + PAPER_EXPLAINERS + ("multishap",)


@dataclass
class ExplainerSummary:
    """One explainer's per-instance results over a set of instances."""

    explainer: str
    fsyn: list[float] = field(default_factory=list)
    visual_hits: list[bool] = field(default_factory=list)
    text_hits: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    model_calls: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def pointing_hits(image_scores, text_scores, coverage, deciding_words) -> tuple[bool, bool]:
    """Whether the top visual unit overlaps an evidence box and the top query unit is a deciding word."""
    return bool(coverage[int(np.argmax(image_scores))] > 0), bool(deciding_words[int(np.argmax(text_scores))])


def compare_on_ground_truth(
    adapter,
    instances: Sequence[Instance],
    explainers: Sequence[str] = DEFAULT_EXPLAINERS,
    steps: int = 11,
    progress: bool = True,
) -> list[ExplainerSummary]:
    """Run every explainer on every instance with evidence boxes; F_syn and pointing hits per explanation."""
    built = {name: get_explainer(name) for name in explainers}
    summaries = {name: ExplainerSummary(name) for name in explainers}
    usable = [i for i in instances if i.ground_truth is not None and i.ground_truth.boxes]
    for instance in tqdm(usable, desc="explainers × instances", unit="instance", disable=not progress):
        prepared = adapter.prepare(instance)
        target = adapter.generate_target(prepared)
        game = adapter.game(prepared, target)
        coverage, deciding_words = adapter.ground_truth_units(prepared)
        for name, explainer in built.items():
            summary = summaries[name]
            try:
                attribution = explainer.explain(adapter, prepared, target)
            except AttributionError as error:
                summary.failures[str(error).split(": ", 1)[-1].split(" (")[0]] += 1
                continue
            summary.fsyn.append(synergistic_faithfulness(game, attribution.image_scores, attribution.text_scores, steps).score)
            visual_hit, text_hit = pointing_hits(attribution.image_scores, attribution.text_scores, coverage, deciding_words)
            summary.visual_hits.append(visual_hit)
            summary.text_hits.append(text_hit)
            summary.seconds.append(attribution.seconds)
            summary.model_calls.append(attribution.model_calls)
    return list(summaries.values())


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
