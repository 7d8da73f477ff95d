"""The explainer contract: one small ``explain(model, prepared, target) -> Attribution``.

An explainer declares what it ``requires`` of a model (a subset of ``{"game", "white_box",
"attention"}``, see :mod:`synfaith.contracts`) and its options as typed constructor
parameters; :meth:`Explainer.attribute` returns :class:`~synfaith.contracts.Scores`.
Explainers see the model (white-box hooks, or only its game for black-box methods), the
prepared input and the target; they never import metrics or runs. :meth:`Explainer.explain`
times the method and rejects attributions that cannot be ranked.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from synfaith.contracts import GAME, WHITE_BOX, Scores


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
        model_calls: forward/backward passes (or distinct game coalitions) the explainer reports.
        forward_passes: sequences the model ran forward during the explanation, counted by the
            model (a batch of 8 integration steps is 8; game coalitions answered from the
            instance's cache cost none); None for a model that does not count.
        backward_passes: sequences whose gradient was taken back through the model.
    """

    explainer: str
    image_scores: np.ndarray
    text_scores: np.ndarray
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    model_calls: int = 0
    forward_passes: int | None = None
    backward_passes: int | None = None


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
    """Base class: subclasses set ``name`` and ``requires`` and implement :meth:`attribute`.

    Game-based explainers (``"game" in requires``) receive the instance's shared, cached game
    as ``attribute(..., game=game)``, so their coalitions cost nothing twice; all others are
    called as ``attribute(model, prepared, target)``.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset({WHITE_BOX})
    description: ClassVar[str] = ""

    @abstractmethod
    def attribute(self, model, prepared, target) -> Scores:
        """The explainer's scores for the target (see :class:`~synfaith.contracts.Scores`)."""

    def explain(self, model, prepared, target, *, game=None) -> Attribution:
        """Explain the target and validate the result (see :class:`AttributionError`).

        Args:
            game: the instance's game for game-based explainers (default: ``model.game(...)``).
        """
        passes_before = _passes(model)
        start = time.perf_counter()
        if GAME in self.requires:
            scores = self.attribute(model, prepared, target, game=game)
        else:
            scores = self.attribute(model, prepared, target)
        seconds = time.perf_counter() - start
        forwards, backwards = (None if b is None else a - b for a, b in zip(_passes(model), passes_before))
        if not isinstance(scores, Scores):
            raise TypeError(f"{type(self).__name__}.attribute must return synfaith.contracts.Scores, got {type(scores).__name__}")
        return Attribution(
            explainer=self.name,
            image_scores=_check(self.name, "visual", scores.image, prepared.n_image_units),
            text_scores=_check(self.name, "text", scores.text, prepared.n_text_units),
            raw={k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in scores.raw.items()},
            seconds=seconds,
            model_calls=scores.model_calls,
            forward_passes=forwards,
            backward_passes=backwards,
        )


def _passes(model) -> tuple[int | None, int | None]:
    """The model's running forward / backward sequence counts (None where it keeps none)."""
    return getattr(model, "forward_passes", None), getattr(model, "backward_passes", None)
