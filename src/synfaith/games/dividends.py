"""The model-free core of F_syn: the step grid and the 2-player dividends of top-set pairs.

docs/design.md §3. For a visual set ``A`` and a text set ``B``::

    S_del(A, B) = v(V, T) − v(V∖A, T) − v(V, T∖B) + v(V∖A, T∖B)   (context: all else present)
    S_ins(A, B) = v(A, B) − v(A, ∅) − v(∅, B) + v(∅, ∅)           (context: all else masked)

F_syn of a ranking is ``(1/K) Σ_k ½ (S_del + S_ins)`` over its top sets at the K steps. The
metric (:mod:`synfaith.metrics.synergy`) and the search explainer
(:mod:`synfaith.explainers.fsyn_search`) both compute dividends here, so the coalitions they ask
for are the same keep-masks and a game's cache shares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfaith.games.base import Game


def validate_steps(steps: int) -> int:
    """Check the number of steps K (at least 2: the empty and the full set)."""
    if int(steps) != steps or steps < 2:
        raise ValueError(f"steps (K) must be an integer ≥ 2, got {steps!r}")
    return int(steps)


def top_counts(n_units: int, steps: int) -> np.ndarray:
    """``⌈t_k · n⌉`` for every step, exactly: ``⌈k·n / (K−1)⌉`` in integer arithmetic."""
    steps = validate_steps(steps)
    k = np.arange(steps)
    return -((-k * n_units) // (steps - 1))


@dataclass(frozen=True)
class PairDividends:
    """The dividends of R set pairs ``(A_r, B_r)`` and what they cost.

    Attributes:
        deletion: float[R], ``S_del(A_r, B_r)``.
        insertion: float[R], ``S_ins(A_r, B_r)``.
        coalitions: distinct coalitions among the 6R + 2 requested.
        evaluations: coalitions the game evaluated for this call (0 when all were cached).
    """

    deletion: np.ndarray
    insertion: np.ndarray
    coalitions: int
    evaluations: int

    @property
    def synergy(self) -> np.ndarray:
        """float[R], ``½ (S_del + S_ins)``: each pair's term of F_syn."""
        return (self.deletion + self.insertion) / 2


def pair_coalitions(image_sets: np.ndarray, text_sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 6R + 2 keep-masks the dividends of R set pairs need, in the order :func:`pair_dividends` reads them.

    Rows: ``v(V,T)``, ``v(∅,∅)``, then per block of R: ``v(V∖A,T)``, ``v(V,T∖B)``, ``v(V∖A,T∖B)``,
    ``v(A,B)``, ``v(A,∅)``, ``v(∅,B)``.
    """
    rows, m = image_sets.shape
    n = text_sets.shape[1]
    full_image, no_image = np.ones((rows, m), bool), np.zeros((rows, m), bool)
    full_text, no_text = np.ones((rows, n), bool), np.zeros((rows, n), bool)
    image = [np.ones((1, m), bool), np.zeros((1, m), bool), ~image_sets, full_image, ~image_sets, image_sets, image_sets, no_image]
    text = [np.ones((1, n), bool), np.zeros((1, n), bool), full_text, ~text_sets, ~text_sets, text_sets, no_text, text_sets]
    return np.concatenate(image), np.concatenate(text)


def pair_dividends(game: Game, image_sets, text_sets) -> PairDividends:
    """``S_del`` and ``S_ins`` of every set pair, from one batched ``game.values`` call.

    Args:
        game: the game (its cache answers coalitions asked for before).
        image_sets: bool[R, m], the visual set ``A_r`` of each pair (True = in the set).
        text_sets: bool[R, n], the text set ``B_r`` of each pair.
    """
    image_sets = np.atleast_2d(np.asarray(image_sets, dtype=bool))
    text_sets = np.atleast_2d(np.asarray(text_sets, dtype=bool))
    if image_sets.shape != (image_sets.shape[0], game.n_image) or text_sets.shape != (image_sets.shape[0], game.n_text):
        raise ValueError(
            f"set pairs must be bool[R, {game.n_image}] and bool[R, {game.n_text}] with the same R; "
            f"got {image_sets.shape} and {text_sets.shape}"
        )
    image_keep, text_keep = pair_coalitions(image_sets, text_sets)
    distinct = game.distinct_coalitions(image_keep, text_keep)
    before = game.evaluations
    v = game.values(image_keep, text_keep)
    full, empty = v[0], v[1]
    without_image, without_text, without_both, both, only_image, only_text = v[2:].reshape(6, image_sets.shape[0])
    return PairDividends(
        deletion=full - without_image - without_text + without_both,
        insertion=both - only_image - only_text + empty,
        coalitions=int(distinct),
        evaluations=game.evaluations - before,
    )
