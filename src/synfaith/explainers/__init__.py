"""Explainers: ``explainer.explain(model, prepared, target) -> Attribution`` (DESIGN.md §4).

Built in so far: :class:`Random`, :class:`InputGradients`, and on the synthetic world :class:`Oracle` and
:class:`ReverseOracle` from planted ground truth. :func:`get_explainer` builds one by name.
"""

from synfaith.explainers.base import Attribution, AttributionError, Explainer
from synfaith.explainers.builtin import InputGradients, Oracle, Random, ReverseOracle
from synfaith.explainers.registry import EXPLAINERS, get_explainer, register_explainer

__all__ = [
    "EXPLAINERS",
    "Attribution",
    "AttributionError",
    "Explainer",
    "InputGradients",
    "Oracle",
    "Random",
    "ReverseOracle",
    "get_explainer",
    "register_explainer",
]
