"""Games: ``v(A, B)`` over visual units ``A`` and text units ``B`` (docs/design.md §1–2).

- :class:`Game` — the batched, de-duplicated, cached base every game shares.
- :class:`FunctionGame` — a game from any batched function.
- Analytic games with known answers: :class:`AndGame`, :class:`OrGame`, :class:`XorGame`,
  :class:`AdditiveGame`, :class:`RandomGame`.
- :class:`PlayerGame` / :class:`Player` — a game over groups of units, also as a ``shapiq.Game``.
"""

from synfaith.games.analytic import AdditiveGame, AndGame, Dividend, OrGame, RandomGame, XorGame
from synfaith.games.base import DEFAULT_BATCH_SIZE, FunctionGame, Game, SumGame, keep_mask
from synfaith.games.players import Player, PlayerGame, all_coalitions, coalition_index

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "AdditiveGame",
    "AndGame",
    "Dividend",
    "FunctionGame",
    "Game",
    "OrGame",
    "Player",
    "PlayerGame",
    "RandomGame",
    "SumGame",
    "XorGame",
    "all_coalitions",
    "coalition_index",
    "keep_mask",
]
