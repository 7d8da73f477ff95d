"""What the exact SII ground truth will cost, known before a run starts (so it can be announced).

Per (instance, explainer) pair, :func:`synfaith.metrics.sii.sii_ground_truth` evaluates the
``2^P`` coalitions (P = 2 + C players) of the macro game at each of the K steps. At t = 0 the
two top sets are empty, so only the ``2^C`` background coalitions differ; at t = 1 the
background is empty, so only 4 do; and the empty and the full coalition recur at every step.
The distinct coalitions per pair are therefore at most::

    (K − 2) · 2^(C+2) + 2^C + 4 − 2 (K − 1)        (2,352 for K = 11, C = 6; F_syn needs 6K + 2 = 68)

fewer where background groups are empty (fewer background units than C) or the instance's
cache already holds them. The metric runs on the first ``sii_limit`` instances of each dataset.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SIICost:
    """The expected cost of the exact SII in a run.

    Attributes:
        pairs: (instance, explainer) pairs it runs on, over every model and dataset.
        per_pair: the most distinct coalitions one pair evaluates (see the module docstring).
        fsyn_per_pair: F_syn's ``6K + 2``, for scale.
        steps, background_players: K and C.
    """

    pairs: int
    per_pair: int
    fsyn_per_pair: int
    steps: int
    background_players: int

    @property
    def evaluations(self) -> int:
        """The most game evaluations the SII adds to the run: ``pairs · per_pair``."""
        return self.pairs * self.per_pair

    def describe(self) -> str:
        """One line for the terminal."""
        ratio = self.per_pair / self.fsyn_per_pair
        return (
            f"the exact SII ground truth (metric 'sii') runs on {self.pairs:,} (instance, explainer) pairs × up to "
            f"{self.per_pair:,} game evaluations each (K = {self.steps} steps × 2^(2+C) = {2 ** (2 + self.background_players)} "
            f"coalitions, C = {self.background_players}; {ratio:.0f}× F_syn's {self.fsyn_per_pair}): up to "
            f"{self.evaluations:,} model evaluations. Drop sii from --metrics (metrics.compute) or lower sii_limit for a faster run"
        )


def sii_pair_evaluations(steps: int, background_players: int) -> int:
    """``(K − 2) · 2^(C+2) + 2^C + 4 − 2 (K − 1)``: the most distinct coalitions one pair's SII evaluates (K ≥ 2)."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    return (steps - 2) * 2 ** (2 + background_players) + 2**background_players + 4 - 2 * (steps - 1)


def sii_cost(instances: int, explainers: int, steps: int, background_players: int) -> SIICost:
    """The SII cost of running it on ``instances`` (model, instance) pairs × ``explainers`` explainers with K and C."""
    return SIICost(
        pairs=instances * explainers,
        per_pair=sii_pair_evaluations(steps, background_players),
        fsyn_per_pair=6 * steps + 2,
        steps=steps,
        background_players=background_players,
    )
