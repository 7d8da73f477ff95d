"""Explainers: ``explainer.explain(model, prepared, target) -> Attribution`` (DESIGN.md §4).

Built in — classical: :class:`Random`, :class:`InputGradients`, :class:`IntegratedGradients`,
:class:`GradCAM`; attention-based: :class:`Rollout`, :class:`GradRollout`, :class:`AttnLRP`;
VLM-native: :class:`LLaVACAM`, :class:`TAM`; game-theoretic (black-box): :class:`MultiSHAP`;
on the synthetic world :class:`Oracle` and :class:`ReverseOracle` from planted ground truth.
:func:`get_explainer` builds one by registry name with its options.
"""

from synfaith.explainers.base import Attribution, AttributionError, Explainer
from synfaith.explainers.builtin import (
    TAM,
    AttnLRP,
    GradCAM,
    GradRollout,
    InputGradients,
    IntegratedGradients,
    LLaVACAM,
    MultiSHAP,
    Oracle,
    Random,
    ReverseOracle,
    Rollout,
)
from synfaith.explainers.registry import EXPLAINERS, get_explainer, register_explainer

__all__ = [
    "EXPLAINERS",
    "TAM",
    "Attribution",
    "AttributionError",
    "AttnLRP",
    "Explainer",
    "GradCAM",
    "GradRollout",
    "InputGradients",
    "IntegratedGradients",
    "LLaVACAM",
    "MultiSHAP",
    "Oracle",
    "Random",
    "ReverseOracle",
    "Rollout",
    "get_explainer",
    "register_explainer",
]
