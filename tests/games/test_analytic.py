import itertools

import numpy as np
import pytest

from synfaith.games import AdditiveGame, AndGame, OrGame, RandomGame, XorGame, all_coalitions


def _every_coalition(m, n):
    rows = all_coalitions(m + n)
    return rows[:, :m], rows[:, m:]


@pytest.mark.parametrize(
    "game_type, truth",
    [(AndGame, lambda i, t: i & t), (OrGame, lambda i, t: i | t), (XorGame, lambda i, t: i ^ t)],
)
def test_critical_pair_games(game_type, truth):
    game = game_type(3, 2, image_unit=2, text_unit=1)
    image, text = _every_coalition(3, 2)
    np.testing.assert_array_equal(game.values(image, text), truth(image[:, 2], text[:, 1]).astype(float))


def test_critical_unit_out_of_range_is_named():
    with pytest.raises(ValueError, match="image_unit=5 is out of range for 3 units"):
        AndGame(3, 2, image_unit=5)


def test_additive_game():
    game = AdditiveGame([1.0, 2.0], [10.0], bias=0.5)
    assert (game.n_image, game.n_text) == (2, 1)
    np.testing.assert_allclose(game.values([[1, 1], [0, 1]], [[1], [0]]), [13.5, 2.5])


def test_random_game_matches_its_dividends_and_is_seeded():
    game = RandomGame(3, 3, seed=7, n_terms=10, max_order=3)
    image, text = _every_coalition(3, 3)
    expected = []
    for row_image, row_text in zip(image, text):
        expected.append(
            sum(
                d.weight
                for d in game.dividends
                if all(row_image[list(d.image_units)]) and all(row_text[list(d.text_units)])
            )
        )
    np.testing.assert_allclose(game.values(image, text), expected)
    assert RandomGame(3, 3, seed=7).dividends == RandomGame(3, 3, seed=7).dividends
    assert RandomGame(3, 3, seed=7).dividends != RandomGame(3, 3, seed=8).dividends
    # the game is genuinely non-linear: some dividend has order ≥ 2
    assert any(len(d.image_units) + len(d.text_units) >= 2 for d in game.dividends)


def test_all_coalitions_enumerates_each_subset_once():
    rows = all_coalitions(4)
    assert rows.shape == (16, 4)
    assert {tuple(r) for r in rows} == set(itertools.product([False, True], repeat=4))
