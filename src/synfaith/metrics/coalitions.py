"""Gather a metric's coalitions first, then evaluate them in one batched game call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfaith.games.base import Game


@dataclass(frozen=True)
class CoalitionValues:
    """The values a metric asked for, with what they cost.

    Attributes:
        values: float[N], one per requested coalition in request order.
        coalitions: distinct coalitions among the requests (the metric's cost on a fresh game).
        evaluations: coalitions the game actually evaluated for this request (0 when cached).
    """

    values: np.ndarray
    coalitions: int
    evaluations: int


class CoalitionPlan:
    """An ordered list of coalitions; :meth:`add` returns the slice its rows will occupy."""

    def __init__(self, n_image: int, n_text: int) -> None:
        self.n_image = n_image
        self.n_text = n_text
        self._image: list[np.ndarray] = []
        self._text: list[np.ndarray] = []
        self._size = 0

    def add(self, image_keep, text_keep) -> slice:
        """Add rows of keep-masks; a single mask ([m] or [n]) broadcasts against the other."""
        image_keep = np.atleast_2d(np.asarray(image_keep, dtype=bool))
        text_keep = np.atleast_2d(np.asarray(text_keep, dtype=bool))
        rows = max(image_keep.shape[0], text_keep.shape[0])
        image_keep = np.broadcast_to(image_keep, (rows, self.n_image))
        text_keep = np.broadcast_to(text_keep, (rows, self.n_text))
        self._image.append(image_keep)
        self._text.append(text_keep)
        added = slice(self._size, self._size + rows)
        self._size += rows
        return added

    def all_image(self, keep: bool = True) -> np.ndarray:
        """The keep-mask that keeps (or masks) every visual unit."""
        return np.full(self.n_image, keep, dtype=bool)

    def all_text(self, keep: bool = True) -> np.ndarray:
        """The keep-mask that keeps (or masks) every text unit."""
        return np.full(self.n_text, keep, dtype=bool)

    def evaluate(self, game: Game) -> CoalitionValues:
        """Evaluate every planned coalition through one ``game.values`` call."""
        image_keep = np.concatenate(self._image, axis=0)
        text_keep = np.concatenate(self._text, axis=0)
        distinct = game.distinct_coalitions(image_keep, text_keep)
        before = game.evaluations
        values = game.values(image_keep, text_keep)
        return CoalitionValues(values=values, coalitions=int(distinct), evaluations=game.evaluations - before)
