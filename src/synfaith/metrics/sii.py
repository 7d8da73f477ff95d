"""Exact Shapley Interaction Index ground truth on the 8-player macro game (paper §4.3, App. D)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np
from pydantic import Field

from synfaith.games.base import Game
from synfaith.games.players import Player, PlayerGame, all_coalitions, coalition_index
from synfaith.metrics.coalitions import CoalitionPlan
from synfaith.metrics.unimodal import STEPS
from synfaith.metrics.registry import Column, Metric
from synfaith.metrics.ranking import perturbation_path

DEFAULT_BACKGROUND_PLAYERS = 6


@dataclass(frozen=True)
class SIIGroundTruth:
    """Exact order-2 SII of the pair (I_t, T_t) in the macro game, per step and averaged.

    Attributes:
        score: mean of ``per_step`` over the K steps (mirrors F_syn).
        per_step: float[K], ``SII_12(t_k)``.
        moebius: mean of ``moebius_per_step``.
        moebius_per_step: float[K], the Harsanyi dividend of {1, 2} with the background
            absent, ``v(12) − v(1) − v(2) + v(∅)``. SII adds to it the higher-order dividends
            that contain both players, shared out, so the two differ exactly where 3-way (or
            higher) effects with the background exist.
        fractions: float[K], the step grid.
        n_players: players of the macro game (2 + background players).
        coalitions: distinct coalitions needed (≤ 2^P · K).
        evaluations: coalitions the game evaluated for this call.
    """

    score: float
    per_step: np.ndarray
    moebius: float
    moebius_per_step: np.ndarray
    fractions: np.ndarray
    n_players: int
    coalitions: int
    evaluations: int


def macro_players(
    image_top: np.ndarray, text_top: np.ndarray, background_players: int, rng: np.random.Generator
) -> list[Player]:
    """The macro game's players for one step.

    Player 1 holds the top visual units ``I_t``, player 2 the top text units ``T_t``. The
    background visual units ``V∖I_t`` and text units ``T∖T_t`` are each shuffled and split
    into ``C`` near-equal groups; background player c holds image group c *and* text group c.
    """
    if background_players < 0:
        raise ValueError(f"background_players must be ≥ 0, got {background_players}")
    image_top, text_top = np.asarray(image_top, bool), np.asarray(text_top, bool)
    players = [
        Player(image_units=tuple(np.flatnonzero(image_top).tolist()), name="I_t"),
        Player(text_units=tuple(np.flatnonzero(text_top).tolist()), name="T_t"),
    ]
    if background_players:
        image_groups = np.array_split(rng.permutation(np.flatnonzero(~image_top)), background_players)
        text_groups = np.array_split(rng.permutation(np.flatnonzero(~text_top)), background_players)
        for c, (image_group, text_group) in enumerate(zip(image_groups, text_groups)):
            players.append(
                Player(
                    image_units=tuple(sorted(image_group.tolist())),
                    text_units=tuple(sorted(text_group.tolist())),
                    name=f"background {c + 1}",
                )
            )
    return players


@lru_cache(maxsize=64)
def _pair_terms(n_players: int, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The subsets S ⊆ N∖{i,j} (as coalition indices) and their SII weights |S|!(P−|S|−2)!/(P−1)!."""
    i, j = pair
    if not (0 <= i < n_players and 0 <= j < n_players and i != j):
        raise ValueError(f"pair {pair} is not two distinct players of {n_players}")
    rows = np.arange(2**n_players, dtype=np.int64)
    subsets = rows[(rows >> i & 1 == 0) & (rows >> j & 1 == 0)]
    sizes = np.array([bin(int(s)).count("1") for s in subsets])
    weights = np.array([factorial(k) * factorial(n_players - k - 2) / factorial(n_players - 1) for k in sizes])
    return subsets, weights


def exact_pair_sii(values: np.ndarray, n_players: int, pair: tuple[int, int] = (0, 1)) -> float:
    """Exact order-2 SII of ``pair`` from the values of all 2^P coalitions.

    ``SII_ij = Σ_{S ⊆ N∖{i,j}} |S|! (P − |S| − 2)! / (P − 1)! · Δ_ij(S)``, one weighted sum over
    the 2^(P−2) subsets (vectorised; equal to shapiq's ``ExactComputer`` to float rounding, which
    the tests check — :func:`shapiq_pair_sii`).

    Args:
        values: float[2^P], indexed like :func:`synfaith.games.all_coalitions`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (2**n_players,):
        raise ValueError(f"expected the values of all 2^{n_players} coalitions, got shape {values.shape}")
    i, j = sorted(pair)
    subsets, weights = _pair_terms(n_players, (i, j))
    bi, bj = 1 << i, 1 << j
    deltas = values[subsets | bi | bj] - values[subsets | bi] - values[subsets | bj] + values[subsets]
    return float(weights @ deltas)


def shapiq_pair_sii(values: np.ndarray, n_players: int, pair: tuple[int, int] = (0, 1)) -> float:
    """The same SII from shapiq's ``ExactComputer`` (the independent reference :func:`exact_pair_sii` is tested against)."""
    from shapiq import ExactComputer

    def table_game(coalitions: np.ndarray) -> np.ndarray:
        return values[coalition_index(coalitions)]

    interactions = ExactComputer(game=table_game, n_players=n_players)(index="SII", order=2)
    return float(interactions[tuple(sorted(pair))])


def sii_ground_truth(
    game: Game,
    image_scores,
    text_scores,
    steps: int = 11,
    background_players: int = DEFAULT_BACKGROUND_PLAYERS,
    seed: int = 0,
) -> SIIGroundTruth:
    """Exact SII ground truth of an attribution (the metric F_syn is validated against).

    For each step ``t_k`` the macro game of :func:`macro_players` has ``P = 2 + C`` players;
    all ``2^P`` coalitions (256 for the default C = 6) of every step are gathered and
    evaluated in one batched game call, then shapiq's exact computer gives::

        SII_12(t) = Σ_{S ⊆ N∖{1,2}} |S|! (P − |S| − 2)! / (P − 1)! · Δ_12(S),
        Δ_12(S) = v(S ∪ {1,2}) − v(S ∪ {1}) − v(S ∪ {2}) + v(S)

    and the ground truth is ``(1/K) Σ_k SII_12(t_k)``. Background groups are shuffled with a
    generator seeded by ``(seed, k)``, so results are reproducible step by step.

    Args:
        game: the game.
        image_scores: float[m], the explainer's visual scores.
        text_scores: float[n], the explainer's text scores.
        steps: K (default 11).
        background_players: C, the number of coupled background players (default 6).
        seed: seed of the background shuffles.
    """
    path = perturbation_path(image_scores, text_scores, steps, units=(game.n_image, game.n_text))
    n_players = 2 + background_players
    coalitions = all_coalitions(n_players)
    plan = CoalitionPlan(game.n_image, game.n_text)
    step_rows = []
    for k in range(path.steps):
        rng = np.random.default_rng((seed, k))
        players = macro_players(path.image_top[k], path.text_top[k], background_players, rng)
        step_rows.append(plan.add(*PlayerGame(game, players).unit_masks(coalitions)))
    result = plan.evaluate(game)

    sii = np.empty(path.steps)
    moebius = np.empty(path.steps)
    both, first, second = 0b11, 0b01, 0b10
    for k, rows in enumerate(step_rows):
        table = result.values[rows]
        sii[k] = exact_pair_sii(table, n_players)
        moebius[k] = table[both] - table[first] - table[second] + table[0]
    return SIIGroundTruth(
        score=float(sii.mean()),
        per_step=sii,
        moebius=float(moebius.mean()),
        moebius_per_step=moebius,
        fractions=path.fractions,
        n_players=n_players,
        coalitions=result.coalitions,
        evaluations=result.evaluations,
    )


def _compute(inputs) -> dict:
    """The mean over the steps of the exact SII of {I_t, T_t} in the 8-player macro game, and its Möbius coefficient."""
    sii = sii_ground_truth(
        inputs.game,
        inputs.image_scores,
        inputs.text_scores,
        inputs.settings.steps,
        background_players=inputs.settings.background_players,
        seed=inputs.seed,
    )
    return {"sii": sii.score, "sii_moebius": sii.moebius, "sii_per_step": sii.per_step.tolist()}


METRIC = Metric(
    name="sii",
    scope="attribution",
    needs=frozenset({"game"}),
    compute=_compute,
    columns=(
        Column("sii", "float", description="mean exact SII of the top sets over the steps"),
        Column("sii_moebius", "float", description="mean Möbius coefficient (Harsanyi dividend) of the pair"),
        Column("sii_per_step", "float_list", description="SII(t_k)"),
    ),
    settings={
        "steps": STEPS,
        "background_players": (int, Field(6, ge=0, le=10, description="C, background players of the SII ground truth")),
        "sii_limit": (
            int | None,
            Field(10, ge=0, description="SII ground truth on the first N instances of each dataset (None: all)"),
        ),
    },
    limit="sii_limit",
    label="exact SII",
    description="the exact order-2 Shapley Interaction Index ground truth (≈2,400 evaluations per pair)",
)
