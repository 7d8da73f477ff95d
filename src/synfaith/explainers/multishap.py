"""MultiSHAP (Wang & Wang 2025): sampled Shapley interactions between image regions and query tokens.

Model-agnostic: it sees only the game ``v(A, B)`` (joint target probability with the units
outside A and B at zero-state), so it runs on black-box models. Players are rectangular
groups of visual units (at most ``max_visual_players``) and the query tokens (grouped into
consecutive runs when there are more than ``max_text_players``). shapiq estimates the
pairwise Shapley Interaction Index with a budget of coalition evaluations, all evaluated
through the game's batched, de-duplicated cache. With ``Φ_ij`` the SII between visual
player i and text player j:

    image score of i = Σ_j |Φ_ij|,   text score of j = Σ_i |Φ_ij|      (``aggregate="abs"``, MultiSHAP)
    image score of i = Σ_j Φ_ij,     text score of j = Σ_i Φ_ij        (``aggregate="signed"``)

A unit's score is its player's score divided by the player's size. The unit-level interaction
matrix spreads each player pair's Φ_ij evenly over its units, ``M[u, t] = Φ_ij / (|i|·|j|)`` for
image unit u in player i and text unit t in player j, so that Σ_t |M[u, t]| and Σ_u |M[u, t]| are
the ``"abs"`` unit scores (the signed sums the ``"signed"`` ones). It is returned in
``Scores.raw["interaction_matrix"]``, float[n_image_units, n_text_units], and stored in the rows.
"""

from __future__ import annotations

import numpy as np

from synfaith.contracts import GAME, Scores
from synfaith.explainers.base import Explainer
from synfaith.games.players import Player, PlayerGame

APPROXIMATORS = ("permutation", "kernel", "svarm")


def grid_blocks(unit_grid: np.ndarray, max_blocks: int) -> list[tuple[int, ...]]:
    """Split a unit grid into at most ``max_blocks`` near-square rectangular blocks of units."""
    rows, cols = unit_grid.shape
    block_rows, block_cols = rows, cols
    while block_rows * block_cols > max_blocks:
        if block_rows >= block_cols:
            block_rows -= 1
        else:
            block_cols -= 1
    row_edges = np.linspace(0, rows, block_rows + 1).round().astype(int)
    col_edges = np.linspace(0, cols, block_cols + 1).round().astype(int)
    return [
        tuple(int(u) for u in unit_grid[r0:r1, c0:c1].ravel())
        for r0, r1 in zip(row_edges[:-1], row_edges[1:])
        for c0, c1 in zip(col_edges[:-1], col_edges[1:])
    ]


def unit_interactions(phi: np.ndarray, players: list[Player], n_visual: int, n_image_units: int, n_text_units: int) -> np.ndarray:
    """The player matrix Φ [visual players, text players] spread over units: ``M[u, t] = Φ_ij / (|i|·|j|)``."""
    matrix = np.zeros((n_image_units, n_text_units))
    for i, visual in enumerate(players[:n_visual]):
        for j, text in enumerate(players[n_visual:]):
            units = np.ix_(list(visual.image_units), list(text.text_units))
            matrix[units] = phi[i, j] / (len(visual.image_units) * len(text.text_units))
    return matrix


def consecutive_groups(n: int, max_groups: int) -> list[tuple[int, ...]]:
    """``range(n)`` in at most ``max_groups`` consecutive runs of near-equal length."""
    edges = np.linspace(0, n, min(n, max_groups) + 1).round().astype(int)
    return [tuple(range(a, b)) for a, b in zip(edges[:-1], edges[1:])]


class MultiSHAP(Explainer):
    """Sampled SII between visual regions and query tokens, through the game alone.

    Args:
        budget: coalition evaluations given to the approximator (cached repeats are free).
        max_visual_players: visual units are grouped into at most this many rectangular blocks.
        max_text_players: query tokens are grouped into at most this many consecutive runs.
        approximator: ``"permutation"`` (PermutationSamplingSII, default), ``"kernel"`` (KernelSHAP-IQ)
            or ``"svarm"`` (SVARM-IQ), all from shapiq. KernelSHAP-IQ fits one coefficient per
            pair of players, so it needs a budget well above P(P+1)/2 for P players; below that its
            estimates are noise (on the toy VLM, 512 evaluations for ~30 players point at the
            evidence cell less often than Random).
        aggregate: ``"abs"`` (MultiSHAP's importance) or ``"signed"`` (net synergy).
        seed: the approximator's random state.
        batch_size: coalitions per model forward pass (None: the adapter's).
    """

    name = "multishap"
    requires = frozenset({GAME})  # the game alone: runs on black-box models

    def __init__(
        self,
        budget: int = 2048,
        max_visual_players: int = 16,
        max_text_players: int = 16,
        approximator: str = "permutation",
        aggregate: str = "abs",
        seed: int = 0,
        batch_size: int | None = None,
    ) -> None:
        if approximator not in APPROXIMATORS:
            raise ValueError(f"unknown approximator {approximator!r}; choose one of {', '.join(APPROXIMATORS)}")
        if aggregate not in ("abs", "signed"):
            raise ValueError(f"aggregate must be 'abs' or 'signed', got {aggregate!r}")
        self.budget = budget
        self.max_visual_players = max_visual_players
        self.max_text_players = max_text_players
        self.approximator = approximator
        self.aggregate = aggregate
        self.seed = seed
        self.batch_size = batch_size

    def players(self, prepared) -> tuple[list[Player], int]:
        """The players (visual blocks first, then query-token runs) and how many are visual."""
        visual = [Player(image_units=block, name=f"image block {i}") for i, block in enumerate(grid_blocks(prepared.unit_grid, self.max_visual_players))]
        text = [
            Player(text_units=run, name=prepared.query_text[prepared.layout.query_spans[run[0]][0] : prepared.layout.query_spans[run[-1]][1]])
            for run in consecutive_groups(prepared.n_text_units, self.max_text_players)
        ]
        return visual + text, len(visual)

    def _approximator(self, n_players: int):
        import shapiq

        classes = {
            "permutation": shapiq.PermutationSamplingSII,
            "kernel": shapiq.KernelSHAPIQ,
            "svarm": shapiq.SVARMIQ,
        }
        return classes[self.approximator](n=n_players, max_order=2, index="SII", random_state=self.seed)

    def interactions(self, game, prepared) -> tuple[np.ndarray, list[Player], int]:
        """``(Φ [visual players, text players], players, number of visual players)`` for one game."""
        players, n_visual = self.players(prepared)
        player_game = PlayerGame(game, players)
        with game.metered() as cost:
            values = self._approximator(len(players)).approximate(budget=self.budget, game=player_game.to_shapiq())
        n_text = len(players) - n_visual
        phi = np.zeros((n_visual, n_text))
        for i in range(n_visual):
            for j in range(n_text):
                phi[i, j] = values[(i, n_visual + j)]
        if not phi.any() and cost.coalitions < 4 * len(players):
            raise ValueError(
                f"multishap: a budget of {self.budget} evaluations estimated no interaction among {len(players)} players; "
                "raise budget (or lower max_visual_players / max_text_players)"
            )
        return phi, players, n_visual

    def attribute(self, model, prepared, target, *, game=None):
        game = game if game is not None else model.game(prepared, target, batch_size=self.batch_size)
        with game.metered() as cost:
            phi, players, n_visual = self.interactions(game, prepared)
        pooled = np.abs(phi) if self.aggregate == "abs" else phi
        image_scores = np.zeros(prepared.n_image_units)
        text_scores = np.zeros(prepared.n_text_units)
        for player, score in zip(players[:n_visual], pooled.sum(1)):
            image_scores[list(player.image_units)] = score / len(player.image_units)
        for player, score in zip(players[n_visual:], pooled.sum(0)):
            text_scores[list(player.text_units)] = score / len(player.text_units)
        matrix = unit_interactions(phi, players, n_visual, prepared.n_image_units, prepared.n_text_units)
        raw = {"interactions": phi, "interaction_matrix": matrix, "players": [p.name for p in players], "n_visual_players": n_visual,
               "coalitions": cost.coalitions}
        # model_calls: the distinct coalitions it asked for (its cost on a cold cache)
        return Scores(image_scores, text_scores, raw, cost.coalitions)
