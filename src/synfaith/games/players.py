"""Games over players: any grouping of a game's units into players.

A :class:`Player` is a set of visual units and a set of text units that enter or leave a
coalition together (the macro players of the SII ground truth, or visual units and query
tokens for MultiSHAP). :class:`PlayerGame` turns player coalitions into unit keep-masks and
evaluates them through the underlying game's batched, cached path; :meth:`PlayerGame.to_shapiq`
exposes it as a ``shapiq.Game`` so shapiq's exact computer and approximators run on any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synfaith.games.base import Game


@dataclass(frozen=True)
class Player:
    """A group of units that is kept or masked as one."""

    image_units: tuple[int, ...] = ()
    text_units: tuple[int, ...] = ()
    name: str = field(default="", compare=False)

    @property
    def is_null(self) -> bool:
        """True when the player holds no unit (it cannot change any value)."""
        return not self.image_units and not self.text_units


def all_coalitions(n_players: int) -> np.ndarray:
    """Every coalition of ``n_players`` as bool[2**n, n]; row r holds the players of r's set bits."""
    if n_players > 20:
        raise ValueError(f"refusing to enumerate 2**{n_players} coalitions; use an approximator")
    rows = np.arange(2**n_players)[:, None]
    return ((rows >> np.arange(n_players)) & 1).astype(bool)


def coalition_index(coalitions: np.ndarray) -> np.ndarray:
    """Row index in :func:`all_coalitions` of each coalition in bool[B, n]."""
    coalitions = np.asarray(coalitions, dtype=bool)
    return coalitions.astype(np.int64) @ (1 << np.arange(coalitions.shape[1], dtype=np.int64))


class PlayerGame:
    """A game whose players are groups of another game's units.

    Args:
        game: the unit-level game.
        players: one :class:`Player` per player; a unit may belong to several players and
            is then kept if any of them is.
        uncovered: what happens to units that belong to no player: ``"masked"`` (always at
            zero-state) or ``"kept"`` (always present, i.e. fixed context).
    """

    def __init__(self, game: Game, players: Sequence[Player], *, uncovered: str = "masked") -> None:
        if uncovered not in ("masked", "kept"):
            raise ValueError(f"uncovered must be 'masked' or 'kept', got {uncovered!r}")
        self.game = game
        self.players = tuple(players)
        self.uncovered = uncovered
        self._image_membership = np.zeros((len(self.players), game.n_image), dtype=bool)
        self._text_membership = np.zeros((len(self.players), game.n_text), dtype=bool)
        for p, player in enumerate(self.players):
            self._image_membership[p, list(player.image_units)] = True
            self._text_membership[p, list(player.text_units)] = True
        self._image_uncovered = ~self._image_membership.any(axis=0)
        self._text_uncovered = ~self._text_membership.any(axis=0)

    @property
    def n_players(self) -> int:
        return len(self.players)

    def unit_masks(self, coalitions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep-masks (bool[B, m], bool[B, n]) of the units of player coalitions bool[B, P]."""
        coalitions = np.atleast_2d(np.asarray(coalitions, dtype=bool))
        if coalitions.shape[1] != self.n_players:
            raise ValueError(f"coalitions must have {self.n_players} columns (one per player), got {coalitions.shape[1]}")
        image_keep = (coalitions.astype(np.int32) @ self._image_membership) > 0
        text_keep = (coalitions.astype(np.int32) @ self._text_membership) > 0
        if self.uncovered == "kept":
            image_keep |= self._image_uncovered
            text_keep |= self._text_uncovered
        return image_keep, text_keep

    def values(self, coalitions: np.ndarray) -> np.ndarray:
        """Values of player coalitions bool[B, P] -> float[B], through the game's cache."""
        return self.game.values(*self.unit_masks(coalitions))

    __call__ = values

    def to_shapiq(self, *, normalize: bool = False):
        """This game as a ``shapiq.Game`` (its ``value_function`` is :meth:`values`)."""
        import shapiq

        player_game = self

        class _SynfaithShapiqGame(shapiq.Game):
            def value_function(self, coalitions: np.ndarray) -> np.ndarray:
                return player_game.values(coalitions)

        empty_value = self.values(np.zeros((1, self.n_players), dtype=bool))[0] if normalize else None
        return _SynfaithShapiqGame(
            n_players=self.n_players,
            normalize=normalize,
            normalization_value=empty_value,
            player_names=[p.name or f"player {i}" for i, p in enumerate(self.players)],
        )
