"""Explain changed copies of an input, for the influence and stability metrics.

The runner owns this step because it needs both the model (to build the copies and to
check that the answer survives a perturbation) and the explainer; the comparisons
themselves are the model-free functions of :mod:`synfaith.metrics.probes`.
"""

from __future__ import annotations

import numpy as np
import torch

from synfaith.metrics.probes import ModalityInfluence, Stability, modality_influence, unified_stability


def influence_probe(adapter, explainer, prepared, target, attribution) -> ModalityInfluence:
    """Re-explain without the image and without the query; compare each modality's scores.

    The changed runs are compared on the *other* modality only, so they call the explainer's
    unvalidated ``attribute``: with the query all padding, a flat text map is expected.
    """
    without_image = explainer.attribute(adapter, adapter.modified(prepared, image_zero_state=True), target)
    all_text = range(prepared.n_text_units)
    without_text = explainer.attribute(adapter, adapter.modified(prepared, masked_text_units=all_text), target)
    for scores in (without_image.text, without_text.image):
        if not np.isfinite(np.asarray(scores, dtype=float)).all():
            raise ValueError(f"{explainer.name}: NaN or infinite scores on a zero-state input")
    return modality_influence(attribution.text_scores, np.asarray(without_image.text), attribution.image_scores, np.asarray(without_text.image))


def keeps_answer(adapter, prepared, target) -> bool:
    """Whether every answer token is still the greedy choice at its position (teacher-forced)."""
    with torch.no_grad():
        embeds, ids = adapter.embedded_inputs(prepared, target)
        logits = adapter.forward_embeddings(embeds, ids, prepared).logits[0, -target.answer_ids.numel() :]
    return bool((logits.argmax(-1).cpu() == target.answer_ids).all())


def stability_probe(
    adapter, explainer, prepared, target, attribution, *, sigma: float, draws: int, top_fraction: float, seed: int, max_tries: int = 5
) -> Stability:
    """Explain ``draws`` perturbed copies that keep the answer, and compare joint rankings.

    A copy adds pixel noise of std σ and masks one query token: the explainer's lowest-ranked
    one, or — if masking it changes the answer — the next lowest, up to ``max_tries`` tokens.
    Draws whose answer never survives are left out (``Stability.draws`` counts the kept ones).
    """
    order = np.argsort(attribution.text_scores, kind="stable").tolist() if prepared.n_text_units > 1 else []
    perturbed = []
    for draw in range(draws):
        for attempt in range(max_tries):
            masked = [order[attempt]] if attempt < len(order) else []
            copy = adapter.modified(prepared, pixel_noise=sigma, masked_text_units=masked, seed=seed * 1000 + draw * max_tries + attempt)
            if keeps_answer(adapter, copy, target):
                result = explainer.explain(adapter, copy, target)
                perturbed.append((result.image_scores, result.text_scores))
                break
    return unified_stability(attribution.image_scores, attribution.text_scores, perturbed, top_fraction)
