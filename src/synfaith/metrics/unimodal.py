"""Unimodal insertion/deletion faithfulness (docs/design.md §3), the paradigm F_syn corrects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from synfaith.games.base import Game
from synfaith.metrics.coalitions import CoalitionPlan
from synfaith.metrics.registry import Column, Metric
from synfaith.metrics.ranking import perturbation_path


@dataclass(frozen=True)
class CurveScores:
    """Deletion and insertion curves of one modality and their Riemann means.

    Attributes:
        deletion: ``Del = (1/K) Σ_k v(remove top-t_k)`` — lower is better.
        insertion: ``Ins = (1/K) Σ_k v(keep only top-t_k)`` — higher is better.
        srg: ``SRG = Ins − Del`` (symmetric relevance gain).
        deletion_curve, insertion_curve: float[K], the values at each step.
    """

    deletion: float
    insertion: float
    srg: float
    deletion_curve: np.ndarray
    insertion_curve: np.ndarray

    @classmethod
    def from_curves(cls, deletion_curve: np.ndarray, insertion_curve: np.ndarray) -> CurveScores:
        deletion, insertion = float(deletion_curve.mean()), float(insertion_curve.mean())
        return cls(deletion, insertion, insertion - deletion, deletion_curve, insertion_curve)


@dataclass(frozen=True)
class UnimodalFaithfulness:
    """Visual and textual insertion/deletion, each with the other modality frozen clean."""

    visual: CurveScores
    textual: CurveScores
    fractions: np.ndarray
    coalitions: int
    evaluations: int


def unimodal_faithfulness(game: Game, image_scores, text_scores, steps: int = 11) -> UnimodalFaithfulness:
    """Unimodal deletion, insertion and SRG per modality.

    With ``I_t`` the top ``⌈t·m⌉`` visual units and ``T_t`` the top ``⌈t·n⌉`` text units,
    ``t_k = k/(K−1)`` and ``∫ g ≈ (1/K) Σ_k g(t_k)``::

        Del_V = ∫ v(V∖I_t, T) dt     Ins_V = ∫ v(I_t, T) dt     SRG_V = Ins_V − Del_V
        Del_T = ∫ v(V, T∖T_t) dt     Ins_T = ∫ v(V, T_t) dt     SRG_T = Ins_T − Del_T

    All 4K coalitions (fewer after de-duplication) are evaluated in one batched game call.

    Args:
        game: the game to perturb.
        image_scores: float[m], the explainer's visual scores (higher = more important).
        text_scores: float[n], the explainer's text scores.
        steps: K, the number of points of the step grid (default 11).
    """
    path = perturbation_path(image_scores, text_scores, steps, units=(game.n_image, game.n_text))
    plan = CoalitionPlan(game.n_image, game.n_text)
    all_image, all_text = plan.all_image(), plan.all_text()
    visual_deletion = plan.add(~path.image_top, all_text)
    visual_insertion = plan.add(path.image_top, all_text)
    text_deletion = plan.add(all_image, ~path.text_top)
    text_insertion = plan.add(all_image, path.text_top)
    result = plan.evaluate(game)
    v = result.values
    return UnimodalFaithfulness(
        visual=CurveScores.from_curves(v[visual_deletion], v[visual_insertion]),
        textual=CurveScores.from_curves(v[text_deletion], v[text_insertion]),
        fractions=path.fractions,
        coalitions=result.coalitions,
        evaluations=result.evaluations,
    )


STEPS = (int, Field(11, ge=2, description="K, points of the step grid t_k = k/(K−1)"))


def _compute(inputs) -> dict:
    """Visual and textual deletion/insertion AUCs and SRG = Ins − Del, the other modality clean."""
    unimodal = unimodal_faithfulness(inputs.game, inputs.image_scores, inputs.text_scores, inputs.settings.steps)
    values = {}
    for prefix, curves in (("visual", unimodal.visual), ("textual", unimodal.textual)):
        values |= {
            f"{prefix}_deletion": curves.deletion,
            f"{prefix}_insertion": curves.insertion,
            f"{prefix}_srg": curves.srg,
            f"{prefix}_deletion_curve": curves.deletion_curve.tolist(),
            f"{prefix}_insertion_curve": curves.insertion_curve.tolist(),
        }
    return values


METRIC = Metric(
    name="unimodal",
    scope="attribution",
    needs=frozenset({"game"}),
    compute=_compute,
    columns=tuple(
        Column(f"{modality}_{what}", kind_type)
        for modality in ("visual", "textual")
        for what, kind_type in (
            ("deletion", "float"),
            ("insertion", "float"),
            ("srg", "float"),
            ("deletion_curve", "float_list"),
            ("insertion_curve", "float_list"),
        )
    ),
    settings={"steps": STEPS},
    label="unimodal deletion / insertion / SRG",
    description="the paper's unimodal baselines, one modality perturbed, the other clean",
)
