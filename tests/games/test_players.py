import numpy as np
import pytest

from synfaith.games import AndGame, Player, PlayerGame, RandomGame, all_coalitions, coalition_index


def test_player_masks_and_uncovered_units():
    game = AndGame(4, 3, image_unit=1, text_unit=2)
    players = [Player(image_units=(0, 1)), Player(text_units=(2,)), Player(image_units=(2,), text_units=(0,))]
    masked = PlayerGame(game, players)
    image, text = masked.unit_masks([[True, False, True]])
    np.testing.assert_array_equal(image, [[True, True, True, False]])
    np.testing.assert_array_equal(text, [[True, False, False]])
    kept = PlayerGame(game, players, uncovered="kept")
    image, text = kept.unit_masks([[False, False, False]])
    np.testing.assert_array_equal(image, [[False, False, False, True]])  # unit 3 belongs to no player
    np.testing.assert_array_equal(text, [[False, True, False]])
    np.testing.assert_array_equal(masked.values(all_coalitions(3)), [0, 0, 0, 1, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="3 columns"):
        masked.values([[True, False]])


def test_coalition_index_inverts_all_coalitions():
    rows = all_coalitions(5)
    np.testing.assert_array_equal(coalition_index(rows), np.arange(32))


def test_to_shapiq_runs_shapiq_exact_computer():
    from shapiq import ExactComputer

    game = AndGame(4, 3, image_unit=1, text_unit=2)
    players = [Player(image_units=(1,)), Player(text_units=(2,)), Player(image_units=(0, 2, 3), text_units=(0, 1))]
    shapiq_game = PlayerGame(game, players).to_shapiq()
    assert shapiq_game.n_players == 3
    sii = ExactComputer(game=shapiq_game, n_players=3)(index="SII", order=2)
    assert sii[(0, 1)] == pytest.approx(1.0)
    assert sii[(0, 2)] == pytest.approx(0.0)


def test_player_game_goes_through_the_game_cache():
    game = RandomGame(5, 4, seed=3)
    pg = PlayerGame(game, [Player(image_units=(i,)) for i in range(5)] + [Player(text_units=(0, 1, 2, 3))])
    pg.values(all_coalitions(6))
    evaluated = game.evaluations
    pg.values(all_coalitions(6))
    assert game.evaluations == evaluated == 64
