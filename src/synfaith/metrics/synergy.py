"""Synergistic Faithfulness F_syn (docs/design.md §3; the paper's central metric)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfaith.games.base import Game
from synfaith.games.dividends import pair_dividends
from synfaith.metrics.ranking import perturbation_path
from synfaith.metrics.registry import Column, Metric
from synfaith.metrics.unimodal import STEPS


@dataclass(frozen=True)
class SynergisticFaithfulness:
    """F_syn and its two halves.

    Attributes:
        score: ``F_syn = (F_del + F_ins) / 2``.
        deletion: ``F_del = (1/K) Σ_k S_del(t_k)``.
        insertion: ``F_ins = (1/K) Σ_k S_ins(t_k)``.
        deletion_dividends, insertion_dividends: float[K], ``S_del(t_k)`` and ``S_ins(t_k)``.
        fractions: float[K], the step grid ``t_k``.
        coalitions: distinct coalitions needed (≤ 6K + 2).
        evaluations: coalitions the game evaluated for this call (0 if all were cached).
    """

    score: float
    deletion: float
    insertion: float
    deletion_dividends: np.ndarray
    insertion_dividends: np.ndarray
    fractions: np.ndarray
    coalitions: int
    evaluations: int


def synergistic_faithfulness(game: Game, image_scores, text_scores, steps: int = 11) -> SynergisticFaithfulness:
    """Synergistic Faithfulness of an attribution: the Harsanyi dividend of its top sets.

    With ``A = I_t`` (top ``⌈t·m⌉`` visual units) and ``B = T_t`` (top ``⌈t·n⌉`` text units)::

        S_del(t) = v(V, T) − v(V∖A, T) − v(V, T∖B) + v(V∖A, T∖B)   (context: all else present)
        S_ins(t) = v(A, B) − v(A, ∅) − v(∅, B) + v(∅, ∅)           (context: all else masked)
        F_del = (1/K) Σ_k S_del(t_k),  F_ins = (1/K) Σ_k S_ins(t_k),  F_syn = (F_del + F_ins) / 2

    Each ``S`` is the 2-player Harsanyi dividend of ``{A, B}`` in its context. F_syn rewards
    finding *synergy*: on a perfectly redundant (OR) game an explainer that finds the
    redundant pair gets a negative score. Cost: 6K + 2 coalitions before de-duplication,
    evaluated in one batched game call.

    Args:
        game: the game to perturb.
        image_scores: float[m], the explainer's visual scores.
        text_scores: float[n], the explainer's text scores.
        steps: K (default 11).
    """
    path = perturbation_path(image_scores, text_scores, steps, units=(game.n_image, game.n_text))
    dividends = pair_dividends(game, path.image_top, path.text_top)
    deletion_dividends, insertion_dividends = dividends.deletion, dividends.insertion
    deletion, insertion = float(deletion_dividends.mean()), float(insertion_dividends.mean())
    return SynergisticFaithfulness(
        score=(deletion + insertion) / 2,
        deletion=deletion,
        insertion=insertion,
        deletion_dividends=deletion_dividends,
        insertion_dividends=insertion_dividends,
        fractions=path.fractions,
        coalitions=dividends.coalitions,
        evaluations=dividends.evaluations,
    )


def _compute(inputs) -> dict:
    """F_syn = (F_del + F_ins)/2 with both halves and their dividend curves S_del(t_k), S_ins(t_k)."""
    fsyn = synergistic_faithfulness(inputs.game, inputs.image_scores, inputs.text_scores, inputs.settings.steps)
    return {
        "fsyn": fsyn.score,
        "fsyn_deletion": fsyn.deletion,
        "fsyn_insertion": fsyn.insertion,
        "fsyn_deletion_curve": fsyn.deletion_dividends.tolist(),
        "fsyn_insertion_curve": fsyn.insertion_dividends.tolist(),
    }


METRIC = Metric(
    name="fsyn",
    scope="attribution",
    needs=frozenset({"game"}),
    compute=_compute,
    columns=(
        Column("fsyn", "float", description="F_syn = (F_del + F_ins) / 2"),
        Column("fsyn_deletion", "float", description="F_del, the mean deletion dividend"),
        Column("fsyn_insertion", "float", description="F_ins, the mean insertion dividend"),
        Column("fsyn_deletion_curve", "float_list", description="S_del(t_k)"),
        Column("fsyn_insertion_curve", "float_list", description="S_ins(t_k)"),
    ),
    settings={"steps": STEPS},
    label="F_syn",
    description="Synergistic Faithfulness: the Harsanyi dividend of the top image and text sets (6K+2 evaluations)",
)
