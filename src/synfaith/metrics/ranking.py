"""From an explainer's scores to the nested top-t unit sets every metric walks along.

docs/design.md §3: rank each modality by descending score, ties broken by the lower unit index;
step k of K has fraction ``t_k = k / (K − 1)``, and the top set holds the first ``⌈t_k · m⌉``
ranked units. Counts are computed in integers so no float rounding changes a set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# one implementation of the step grid, shared with the search explainer (explainers never import metrics)
from synfaith.games.dividends import top_counts, validate_steps


class DegenerateAttributionError(ValueError):
    """An attribution that cannot be ranked: a NaN/inf score, or every score equal."""


def step_fractions(steps: int) -> np.ndarray:
    """The step grid ``t_k = k / (K − 1)`` for k = 0..K−1."""
    steps = validate_steps(steps)
    return np.arange(steps) / (steps - 1)


def rank_units(scores, *, modality: str = "scores") -> np.ndarray:
    """Unit indices by descending score; ties go to the lower index first.

    Raises:
        DegenerateAttributionError: a score is NaN or infinite, or (with more than one unit)
            every score is equal — such an attribution ranks nothing and must be recorded as
            an error rather than silently ranked in index order.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not np.isfinite(scores).all():
        bad = np.flatnonzero(~np.isfinite(scores))
        raise DegenerateAttributionError(
            f"{modality} has {bad.size} non-finite value(s) (first at unit {bad[0]}); cannot rank"
        )
    if scores.size > 1 and np.ptp(scores) == 0:
        raise DegenerateAttributionError(
            f"all {scores.size} {modality} are equal ({scores[0]!r}); the attribution ranks nothing"
        )
    return np.argsort(-scores, kind="stable")


@dataclass(frozen=True)
class PerturbationPath:
    """The nested top-t sets of both modalities along the K-step grid.

    Attributes:
        fractions: t_k, float[K].
        image_top: bool[K, m]; row k keeps the first ⌈t_k·m⌉ ranked visual units (I_t).
        text_top: bool[K, n]; row k keeps the first ⌈t_k·n⌉ ranked text units (T_t).
    """

    fractions: np.ndarray
    image_top: np.ndarray
    text_top: np.ndarray

    @property
    def steps(self) -> int:
        return self.fractions.size


def _nested_top_masks(order: np.ndarray, steps: int) -> np.ndarray:
    n = order.size
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    return position[None, :] < top_counts(n, steps)[:, None]


def perturbation_path(
    image_scores, text_scores, steps: int = 11, *, units: tuple[int, int] | None = None
) -> PerturbationPath:
    """Rank both modalities and build the top-t keep-masks for every step.

    Args:
        units: the game's ``(n_image, n_text)``; when given, the score vectors must match it.
    """
    steps = validate_steps(steps)
    if units is not None:
        sizes = (np.size(image_scores), np.size(text_scores))
        if sizes != tuple(units):
            raise ValueError(
                f"the game has {units[0]} visual and {units[1]} text units, but the attribution "
                f"has {sizes[0]} and {sizes[1]}; they must match"
            )
    image_order = rank_units(image_scores, modality="visual scores")
    text_order = rank_units(text_scores, modality="text scores")
    return PerturbationPath(
        fractions=step_fractions(steps),
        image_top=_nested_top_masks(image_order, steps),
        text_top=_nested_top_masks(text_order, steps),
    )
