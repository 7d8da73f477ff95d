"""Explainers: ``explainer.explain(model, prepared, target) -> Attribution`` (DESIGN.md §4).

Built in so far: :class:`Random`, and on the synthetic world :class:`Oracle` and
:class:`ReverseOracle` from planted ground truth. :func:`get_explainer` builds one by name.
"""

from synfaith.explainers.base import Attribution, AttributionError, Explainer
from synfaith.explainers.builtin import Oracle, Random, ReverseOracle
from synfaith.explainers.registry import EXPLAINERS, get_explainer, register_explainer

__all__ = [
    "EXPLAINERS",
    "Attribution",
    "AttributionError",
    "Explainer",
    "Oracle",
    "Random",
    "ReverseOracle",
    "get_explainer",
    "register_explainer",
]
