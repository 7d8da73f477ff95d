"""Properties of an explainer's attributions across related inputs (beyond faithfulness).

These compare score vectors an explainer produced on an input and on a changed copy of it;
producing the copies and the explanations is the runner's job (:mod:`synfaith.runs.probes`),
so these functions see only numbers.

* **Modality influence** (Granger-style; the "rethinking multimodal XAI" principles): how much
  an explainer's attribution for one modality changes when the *other* modality is removed
  (set to its zero-state). ``influence = 1 − Spearman(a, a′)`` for the modality's scores on the
  original (a) and on the input without the other modality (a′): 0 when the attribution
  ignores the other modality, up to 2 when it reverses.
* **Unified stability**: rank agreement of the *joint* attribution — both modalities' scores,
  each converted to percentile ranks so that their scales are comparable, concatenated — under
  small joint perturbations that keep the answer: Spearman, and the overlap of the joint
  top-k sets (k = ⌈fraction · (m + n)⌉).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.stats import rankdata, spearmanr

from synfaith.metrics.registry import Column, Metric


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ; a constant vector has no ranking: ρ = 1 if both are constant, else 0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2:
        return 1.0
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else 0.0
    if np.array_equal(rankdata(a), rankdata(b)):
        return 1.0  # exactly, not 1 − 1e-16
    return float(spearmanr(a, b)[0])


@dataclass(frozen=True)
class ModalityInfluence:
    """``1 − ρ`` of each modality's scores when the other modality is at zero-state."""

    text_without_image: float  # text attribution: original vs image removed
    image_without_text: float  # image attribution: original vs text removed


def modality_influence(
    text_scores: np.ndarray, text_scores_without_image: np.ndarray, image_scores: np.ndarray, image_scores_without_text: np.ndarray
) -> ModalityInfluence:
    """Modality influence in both directions (see the module docstring)."""
    return ModalityInfluence(
        text_without_image=1.0 - _spearman(text_scores, text_scores_without_image),
        image_without_text=1.0 - _spearman(image_scores, image_scores_without_text),
    )


def joint_ranks(image_scores: np.ndarray, text_scores: np.ndarray) -> np.ndarray:
    """Both modalities' scores as percentile ranks in (0, 1], concatenated (image first)."""
    parts = []
    for scores in (np.asarray(image_scores, float), np.asarray(text_scores, float)):
        parts.append(rankdata(scores) / scores.size if scores.size else scores)
    return np.concatenate(parts)


@dataclass(frozen=True)
class Stability:
    """Mean agreement of the joint attribution with its perturbed versions."""

    spearman: float
    top_k_overlap: float
    draws: int


def unified_stability(
    image_scores: np.ndarray,
    text_scores: np.ndarray,
    perturbed: list[tuple[np.ndarray, np.ndarray]],
    top_fraction: float = 0.1,
) -> Stability:
    """Spearman and top-k overlap between the joint ranks of the original and each perturbed attribution, averaged."""
    if not perturbed:
        return Stability(float("nan"), float("nan"), 0)
    reference = joint_ranks(image_scores, text_scores)
    k = max(1, math.ceil(top_fraction * reference.size))
    top = set(np.argsort(-reference, kind="stable")[:k])
    rhos, overlaps = [], []
    for image_b, text_b in perturbed:
        other = joint_ranks(image_b, text_b)
        rhos.append(_spearman(reference, other))
        overlaps.append(len(top & set(np.argsort(-other, kind="stable")[:k])) / k)
    return Stability(float(np.mean(rhos)), float(np.mean(overlaps)), len(perturbed))


PROBE_LIMIT = (
    int | None,
    Field(50, ge=0, description="influence and stability on the first N instances of each dataset (None: all)"),
)


def _influence(inputs) -> dict:
    """``1 − Spearman(a_T(x_I, x_T), a_T(zero_I, x_T))`` and its image-side mirror."""
    influence = inputs.probes.influence()
    return {
        "influence_text_without_image": influence.text_without_image,
        "influence_image_without_text": influence.image_without_text,
    }


def _stability(inputs) -> dict:
    """Mean Spearman and top-k overlap of the joint ranking under perturbations that keep the answer."""
    settings = inputs.settings
    stability = inputs.probes.stability(sigma=settings.stability_sigma, draws=settings.stability_draws, top_fraction=settings.stability_top_fraction)
    return {"stability_spearman": stability.spearman, "stability_top_k": stability.top_k_overlap, "stability_draws": stability.draws}


INFLUENCE = Metric(
    name="influence",
    scope="attribution",
    needs=frozenset({"white_box", "probes"}),
    compute=_influence,
    columns=(
        Column("influence_text_without_image", "float", description="1 − ρ of the text scores with the image removed"),
        Column("influence_image_without_text", "float", description="1 − ρ of the image scores with the query removed"),
    ),
    settings={"probe_limit": PROBE_LIMIT},
    limit="probe_limit",
    error_column="probe_message",
    label="modality influence",
    description="Granger-style: how much one modality's attribution moves when the other is removed (2 extra explanations)",
)

STABILITY = Metric(
    name="stability",
    scope="attribution",
    needs=frozenset({"white_box", "probes"}),
    compute=_stability,
    columns=(
        Column("stability_spearman", "float", description="mean Spearman of the joint ranking under perturbation"),
        Column("stability_top_k", "float", description="mean top-k overlap of the joint ranking"),
        Column("stability_draws", "int", description="perturbed copies that kept the answer"),
    ),
    settings={
        "probe_limit": PROBE_LIMIT,
        "stability_sigma": (float, Field(0.02, ge=0, description="pixel noise std (on [0, 1]) of the stability perturbations")),
        "stability_draws": (int, Field(3, ge=1, description="perturbed copies per stability estimate")),
        "stability_top_fraction": (float, Field(0.1, gt=0, le=1, description="k of the top-k overlap, as a fraction of all units")),
    },
    limit="probe_limit",
    error_column="probe_message",
    label="unified stability",
    description="rank agreement of the joint attribution under small perturbations that keep the answer",
)
