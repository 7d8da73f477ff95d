"""Analytic games with known answers, for tests, docs and sanity rows.

Each game has one critical visual unit ``i*`` and one critical text unit ``j*`` (except the
additive and random games), so the metrics' expected values follow from docs/design.md §3:

- :class:`AndGame` — pure synergy: ``v = 1`` iff ``i* ∈ A`` and ``j* ∈ B``.
- :class:`OrGame` — pure redundancy: ``v = 1`` iff ``i* ∈ A`` or ``j* ∈ B``.
- :class:`XorGame` — ``v = 1`` iff exactly one of them is kept (dividend −2).
- :class:`AdditiveGame` — ``v = g(A) + h(B)``: no interaction at all.
- :class:`RandomGame` — seeded sparse Harsanyi-dividend game with known dividends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfaith.games.base import Game


def _check_unit(index: int, n_units: int, name: str) -> int:
    if not 0 <= index < n_units:
        raise ValueError(f"{name}={index} is out of range for {n_units} units")
    return int(index)


class _CriticalPairGame(Game):
    """A game decided by one critical visual unit and one critical text unit."""

    def __init__(self, n_image: int, n_text: int, image_unit: int = 0, text_unit: int = 0, **options) -> None:
        super().__init__(n_image, n_text, **options)
        self.image_unit = _check_unit(image_unit, n_image, "image_unit")
        self.text_unit = _check_unit(text_unit, n_text, "text_unit")

    def _critical(self, image_keep: np.ndarray, text_keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return image_keep[:, self.image_unit], text_keep[:, self.text_unit]


class AndGame(_CriticalPairGame):
    """Pure synergy: ``v(A, B) = [i* ∈ A] · [j* ∈ B]``; the only dividend is Δ_{i*j*} = 1."""

    def _evaluate(self, image_keep, text_keep):
        image_hit, text_hit = self._critical(image_keep, text_keep)
        return (image_hit & text_hit).astype(np.float64)


class OrGame(_CriticalPairGame):
    """Perfect redundancy: ``v(A, B) = [i* ∈ A or j* ∈ B]``; Δ_{i*} = Δ_{j*} = 1, Δ_{i*j*} = −1."""

    def _evaluate(self, image_keep, text_keep):
        image_hit, text_hit = self._critical(image_keep, text_keep)
        return (image_hit | text_hit).astype(np.float64)


class XorGame(_CriticalPairGame):
    """Exclusive evidence: ``v(A, B) = [i* ∈ A] xor [j* ∈ B]``; Δ_{i*j*} = −2."""

    def _evaluate(self, image_keep, text_keep):
        image_hit, text_hit = self._critical(image_keep, text_keep)
        return (image_hit ^ text_hit).astype(np.float64)


class AdditiveGame(Game):
    """No interaction: ``v(A, B) = bias + Σ_{i∈A} w_i + Σ_{j∈B} u_j``.

    Every Harsanyi dividend of order ≥ 2 is zero, so F_syn = 0 for any ranking.
    """

    def __init__(self, image_weights, text_weights, bias: float = 0.0, **options) -> None:
        self.image_weights = np.asarray(image_weights, dtype=np.float64).ravel()
        self.text_weights = np.asarray(text_weights, dtype=np.float64).ravel()
        super().__init__(self.image_weights.size, self.text_weights.size, **options)
        self.bias = float(bias)

    @classmethod
    def random(cls, n_image: int, n_text: int, seed: int = 0, **options) -> AdditiveGame:
        """Weights drawn from N(0, 1) with a seeded generator."""
        rng = np.random.default_rng(seed)
        return cls(rng.normal(size=n_image), rng.normal(size=n_text), bias=rng.normal(), **options)

    def _evaluate(self, image_keep, text_keep):
        return self.bias + image_keep @ self.image_weights + text_keep @ self.text_weights


@dataclass(frozen=True)
class Dividend:
    """A Harsanyi dividend: ``weight`` paid when every listed unit is kept."""

    image_units: tuple[int, ...]
    text_units: tuple[int, ...]
    weight: float


class RandomGame(Game):
    """A seeded random non-linear game with known Harsanyi dividends.

    ``v(A, B) = Σ_d w_d · [I_d ⊆ A] · [T_d ⊆ B]`` over ``n_terms`` dividends on random unit
    sets of 1..``max_order`` units (each mixing the modalities at random), with weights
    drawn from N(0, 1). The dividends are exposed as :attr:`dividends`, so any metric's
    exact value can be computed independently.
    """

    def __init__(
        self,
        n_image: int,
        n_text: int,
        seed: int = 0,
        n_terms: int = 12,
        max_order: int = 3,
        **options,
    ) -> None:
        super().__init__(n_image, n_text, **options)
        if n_image + n_text == 0:
            raise ValueError("RandomGame needs at least one unit")
        rng = np.random.default_rng(seed)
        n_units = n_image + n_text
        dividends = []
        for _ in range(n_terms):
            order = int(rng.integers(1, min(max_order, n_units) + 1))
            units = rng.choice(n_units, size=order, replace=False)
            dividends.append(
                Dividend(
                    image_units=tuple(sorted(int(u) for u in units if u < n_image)),
                    text_units=tuple(sorted(int(u) - n_image for u in units if u >= n_image)),
                    weight=float(rng.normal()),
                )
            )
        self.dividends: tuple[Dividend, ...] = tuple(dividends)

    def _evaluate(self, image_keep, text_keep):
        out = np.zeros(image_keep.shape[0], dtype=np.float64)
        for d in self.dividends:
            present = image_keep[:, list(d.image_units)].all(axis=1) & text_keep[:, list(d.text_units)].all(axis=1)
            out += d.weight * present
        return out
