"""The checks docs/design.md §3 says any implementation must pass, with exact expected values."""

import numpy as np
import pytest

from synfaith.games import AdditiveGame, AndGame, OrGame, XorGame
from synfaith.metrics import (
    perturbation_path,
    redundancy_profile,
    sii_ground_truth,
    synergistic_faithfulness,
    unimodal_faithfulness,
)
from tests.conftest import one_hot

M, N, I_STAR, J_STAR = 20, 7, 13, 4


def _indicator(image_scores, text_scores, steps):
    path = perturbation_path(image_scores, text_scores, steps)
    return (path.image_top[:, I_STAR] & path.text_top[:, J_STAR]).astype(float)


@pytest.mark.parametrize("steps", [3, 5, 11, 21])
def test_and_game_perfect_ranking_gives_k_minus_one_over_k(steps):
    game = AndGame(M, N, I_STAR, J_STAR)
    result = synergistic_faithfulness(game, one_hot(M, I_STAR), one_hot(N, J_STAR), steps=steps)
    assert result.score == pytest.approx((steps - 1) / steps, abs=1e-12)
    np.testing.assert_array_equal(result.deletion_dividends, [0] + [1] * (steps - 1))
    np.testing.assert_array_equal(result.insertion_dividends, [0] + [1] * (steps - 1))


def test_and_game_dividends_are_the_indicator_for_any_ranking(rng):
    game = AndGame(M, N, I_STAR, J_STAR)
    for _ in range(20):
        a, b = rng.normal(size=M), rng.normal(size=N)
        result = synergistic_faithfulness(game, a, b)
        expected = _indicator(a, b, 11)
        np.testing.assert_array_equal(result.deletion_dividends, expected)
        np.testing.assert_array_equal(result.insertion_dividends, expected)


def test_and_game_reversed_ranking_gets_far_less():
    game = AndGame(M, N, I_STAR, J_STAR)
    perfect = synergistic_faithfulness(game, one_hot(M, I_STAR), one_hot(N, J_STAR))
    reversed_ = synergistic_faithfulness(game, -one_hot(M, I_STAR), -one_hot(N, J_STAR))
    # the critical units enter only at t = 1 (the last of the 11 steps)
    assert reversed_.score == pytest.approx(1 / 11)
    assert perfect.score - reversed_.score == pytest.approx(9 / 11)


def test_or_game_unimodal_collapse_and_negative_fsyn(rng):
    game = OrGame(M, N, I_STAR, J_STAR)
    for a, b in [(one_hot(M, I_STAR), one_hot(N, J_STAR)), (rng.normal(size=M), rng.normal(size=N))]:
        unimodal = unimodal_faithfulness(game, a, b)
        for part in (unimodal.visual, unimodal.textual):
            assert (part.deletion, part.insertion, part.srg) == (1.0, 1.0, 0.0)
        synergy = synergistic_faithfulness(game, a, b)
        np.testing.assert_array_equal(synergy.deletion_dividends, -_indicator(a, b, 11))
        np.testing.assert_array_equal(synergy.insertion_dividends, -_indicator(a, b, 11))
    # an explainer that finds the redundant pair is scored negative: F_syn rewards synergy only
    assert synergistic_faithfulness(game, one_hot(M, I_STAR), one_hot(N, J_STAR)).score == pytest.approx(-10 / 11)
    assert redundancy_profile(game).dividend == -1.0


def test_xor_game_dividend_is_minus_two():
    game = XorGame(M, N, I_STAR, J_STAR)
    result = synergistic_faithfulness(game, one_hot(M, I_STAR), one_hot(N, J_STAR))
    assert result.score == pytest.approx(-2 * 10 / 11)


def test_additive_game_gives_zero_for_any_ranking(rng):
    game = AdditiveGame.random(M, N, seed=3)
    for _ in range(10):
        a, b = rng.normal(size=M), rng.normal(size=N)
        result = synergistic_faithfulness(game, a, b)
        assert result.score == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(result.deletion_dividends, 0.0, atol=1e-12)
        assert sii_ground_truth(game, a, b).score == pytest.approx(0.0, abs=1e-12)
    assert redundancy_profile(game).dividend == pytest.approx(0.0, abs=1e-12)


def test_unimodal_curves_on_and_game():
    game = AndGame(M, N, I_STAR, J_STAR)
    result = unimodal_faithfulness(game, one_hot(M, I_STAR), one_hot(N, J_STAR))
    # perfect ranking: deleting i* first kills the value at every t > 0; inserting it first restores it
    assert result.visual.deletion == pytest.approx(1 / 11)
    assert result.visual.insertion == pytest.approx(10 / 11)
    assert result.visual.srg == pytest.approx(9 / 11)
    assert result.textual.srg == pytest.approx(9 / 11)


def test_and_game_sii_ground_truth_is_the_indicator():
    game = AndGame(M, N, I_STAR, J_STAR)
    result = sii_ground_truth(game, one_hot(M, I_STAR), one_hot(N, J_STAR))
    np.testing.assert_allclose(result.per_step, [0] + [1] * 10, atol=1e-12)
    assert result.score == pytest.approx(10 / 11)
    assert result.moebius == pytest.approx(10 / 11)


def test_redundancy_profile_corners():
    profile = redundancy_profile(AndGame(M, N, I_STAR, J_STAR))
    assert (profile.full, profile.image_only, profile.text_only, profile.empty) == (1.0, 0.0, 0.0, 0.0)
    assert profile.dividend == 1.0 and profile.kind == "synergy"
    assert redundancy_profile(OrGame(M, N, I_STAR, J_STAR)).kind == "redundancy"


def test_attribution_shape_must_match_the_game():
    with pytest.raises(ValueError, match="attribution has 5 and 7"):
        synergistic_faithfulness(AndGame(M, N), np.arange(5.0), np.arange(7.0))
