"""The explainer contract: one small ``explain(model, prepared, target) -> Attribution``.

Explainers see the model adapter (white-box hooks, or only its game for black-box methods),
the prepared input and the target; they never import metrics. :meth:`Explainer.explain`
times the method, counts model calls and rejects attributions that cannot be ranked.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


class AttributionError(ValueError):
    """An explainer produced scores that cannot be used (wrong shape, NaN, all equal)."""


@dataclass(frozen=True)
class Attribution:
    """Scores of one explainer for one (instance, target).

    Attributes:
        explainer: the explainer's registry name.
        image_scores: float[m], one score per visual unit (higher = more important).
        text_scores: float[n], one score per query unit.
        raw: extra maps for figures (e.g. a pixel-level map), by name.
        seconds: wall time of the explanation.
        model_calls: forward/backward passes the explainer made.
    """

    explainer: str
    image_scores: np.ndarray
    text_scores: np.ndarray
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    model_calls: int = 0


def _check(name: str, modality: str, scores, expected: int) -> np.ndarray:
    scores = np.array(scores, dtype=np.float64).ravel()  # a copy: never a view pinning a tensor
    if scores.size != expected:
        raise AttributionError(f"{name}: {modality} scores have {scores.size} values for {expected} units")
    if not np.isfinite(scores).all():
        raise AttributionError(f"{name}: {modality} scores contain NaN or infinite values")
    if scores.size > 1 and np.ptp(scores) == 0:
        raise AttributionError(f"{name}: all {scores.size} {modality} scores are equal ({scores[0]!r})")
    return scores


class Explainer(ABC):
    """Base class: subclasses implement :meth:`attribute`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def attribute(self, model, prepared, target) -> tuple[np.ndarray, np.ndarray, dict[str, Any], int]:
        """``(image_scores[m], text_scores[n], raw maps, model calls)`` for the target."""

    def explain(self, model, prepared, target) -> Attribution:
        """Explain the target and validate the result (see :class:`AttributionError`)."""
        start = time.perf_counter()
        image_scores, text_scores, raw, calls = self.attribute(model, prepared, target)
        seconds = time.perf_counter() - start
        return Attribution(
            explainer=self.name,
            image_scores=_check(self.name, "visual", image_scores, prepared.n_image_units),
            text_scores=_check(self.name, "text", text_scores, prepared.n_text_units),
            raw={k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in raw.items()},
            seconds=seconds,
            model_calls=calls,
        )
