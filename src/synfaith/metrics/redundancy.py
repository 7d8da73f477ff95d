"""The modality redundancy profile of one instance (docs/design.md §3, beyond the paper)."""

from __future__ import annotations

from dataclasses import dataclass

from synfaith.games.base import Game
from synfaith.metrics.coalitions import CoalitionPlan
from synfaith.metrics.registry import Column, Metric


@dataclass(frozen=True)
class RedundancyProfile:
    """The four corners of the modality lattice and their dividend.

    Attributes:
        full: ``v(V, T)``, the clean input.
        image_only: ``v(V, ∅)``, the text masked.
        text_only: ``v(∅, T)``, the image masked.
        empty: ``v(∅, ∅)``, the full zero-state.
        dividend: ``Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅)``; > 0 synergy, < 0 redundancy.
    """

    full: float
    image_only: float
    text_only: float
    empty: float
    dividend: float

    @property
    def kind(self) -> str:
        """``"synergy"``, ``"redundancy"`` or ``"additive"`` by the sign of the dividend."""
        if self.dividend > 0:
            return "synergy"
        if self.dividend < 0:
            return "redundancy"
        return "additive"


def redundancy_profile(game: Game) -> RedundancyProfile:
    """The modality-level Harsanyi dividend of a game, from 4 evaluations (one batched call).

    ``Δ = v(V, T) − v(V, ∅) − v(∅, T) + v(∅, ∅)``. It tells *why* unimodal metrics collapse on
    an instance: when Δ < 0 either modality alone already gives the answer, so deleting one
    modality's evidence barely moves the score whatever the explainer says.
    """
    plan = CoalitionPlan(game.n_image, game.n_text)
    corners = plan.add(
        [plan.all_image(), plan.all_image(), plan.all_image(False), plan.all_image(False)],
        [plan.all_text(), plan.all_text(False), plan.all_text(), plan.all_text(False)],
    )
    full, image_only, text_only, empty = plan.evaluate(game).values[corners]
    return RedundancyProfile(
        full=float(full),
        image_only=float(image_only),
        text_only=float(text_only),
        empty=float(empty),
        dividend=float(full - image_only - text_only + empty),
    )


def _compute(inputs) -> dict:
    """``Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅)`` with the four values it is made of."""
    profile = redundancy_profile(inputs.game)
    return {
        "v_full": profile.full,
        "v_image_only": profile.image_only,
        "v_text_only": profile.text_only,
        "v_empty": profile.empty,
        "modality_dividend": profile.dividend,
    }


METRIC = Metric(
    name="redundancy",
    scope="instance",
    needs=frozenset({"game"}),
    compute=_compute,
    columns=(
        Column("v_full", "float", description="v(V, T): the clean input"),
        Column("v_image_only", "float", description="v(V, ∅): the image with the query masked"),
        Column("v_text_only", "float", description="v(∅, T): the query with the image masked"),
        Column("v_empty", "float", description="v(∅, ∅): the full zero-state"),
        Column("modality_dividend", "float", description="Δ > 0 synergy, < 0 redundancy"),
    ),
    label="redundancy profile",
    description="the modality-level Harsanyi dividend of the instance (4 evaluations)",
)
