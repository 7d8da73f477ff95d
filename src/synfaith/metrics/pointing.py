"""The pointing game on planted evidence: plausibility, not faithfulness (docs/design.md §3).

Does the top-ranked visual unit overlap an evidence box, and is the top-ranked query unit a
deciding word? An explainer can point well and still miss the cross-modal synergy that F_syn
measures; reporting both keeps the two questions apart.
"""

from __future__ import annotations

import numpy as np

from synfaith.metrics.registry import Column, Metric


def pointing_hits(image_scores, text_scores, coverage, deciding_words) -> tuple[bool, bool]:
    """``(top visual unit overlaps an evidence box, top query unit is a deciding word)``.

    The top unit is the first of the highest score (ties: the lower index), as in every ranking.
    """
    top_image = int(np.argmax(np.asarray(image_scores)))
    top_text = int(np.argmax(np.asarray(text_scores)))
    return bool(np.asarray(coverage)[top_image] > 0), bool(np.asarray(deciding_words)[top_text])


def _compute(inputs) -> dict:
    """``hit_image = [coverage(argmax a_V) > 0]``, ``hit_text = [argmax a_T is a deciding word]``;
    empty without evidence boxes (no planted truth to point at)."""
    if inputs.ground_truth is None:
        return {}
    coverage, words = inputs.ground_truth
    if not np.asarray(coverage).any():
        return {}
    image_hit, text_hit = pointing_hits(inputs.image_scores, inputs.text_scores, coverage, words)
    return {"pointing_image": float(image_hit), "pointing_text": float(text_hit) if np.asarray(words).any() else None}


METRIC = Metric(
    name="pointing",
    scope="attribution",
    needs=frozenset(),
    compute=_compute,
    columns=(
        Column("pointing_image", "float", description="1 if the top visual unit overlaps an evidence box"),
        Column("pointing_text", "float", description="1 if the top query unit is a deciding word"),
    ),
    uses_ground_truth=True,
    label="pointing game",
    description="plausibility on planted evidence: does the top unit of each modality hit it",
)
