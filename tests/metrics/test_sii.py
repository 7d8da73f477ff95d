from math import factorial

import numpy as np
import pytest

from synfaith.games import RandomGame, all_coalitions, coalition_index
from synfaith.metrics import exact_pair_sii, macro_players, sii_ground_truth, synergistic_faithfulness
from synfaith.metrics.sii import shapiq_pair_sii


def closed_form_pair_sii(values: np.ndarray, n_players: int, i: int = 0, j: int = 1) -> float:
    """SII_ij = Σ_{S ⊆ N∖{i,j}} |S|!(n−|S|−2)!/(n−1)! · Δ_ij(S), written out coalition by coalition."""
    total = 0.0
    others = [p for p in range(n_players) if p not in (i, j)]
    for bits in range(2 ** len(others)):
        members = [others[b] for b in range(len(others)) if bits >> b & 1]
        base = sum(1 << p for p in members)
        delta = values[base | 1 << i | 1 << j] - values[base | 1 << i] - values[base | 1 << j] + values[base]
        s = len(members)
        total += factorial(s) * factorial(n_players - s - 2) / factorial(n_players - 1) * delta
    return total


@pytest.mark.parametrize("seed", range(8))
def test_shapiq_sii_equals_closed_form_on_random_games(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=256)  # an arbitrary 8-player game, every dividend non-zero
    for pair in [(0, 1), (2, 5), (6, 7)]:
        assert shapiq_pair_sii(values, 8, pair) == pytest.approx(closed_form_pair_sii(values, 8, *pair), abs=1e-9)
        assert exact_pair_sii(values, 8, pair) == pytest.approx(shapiq_pair_sii(values, 8, pair), abs=1e-12)


@pytest.mark.parametrize("n_players", [2, 3, 5, 8])
def test_the_vectorised_sii_equals_shapiq_for_every_pair(n_players):
    values = np.random.default_rng(n_players).normal(size=2**n_players)
    for i in range(n_players):
        for j in range(i + 1, n_players):
            assert exact_pair_sii(values, n_players, (i, j)) == pytest.approx(shapiq_pair_sii(values, n_players, (i, j)), abs=1e-12)
            assert exact_pair_sii(values, n_players, (j, i)) == exact_pair_sii(values, n_players, (i, j))
    with pytest.raises(ValueError, match="all 2\\^"):
        exact_pair_sii(values[:-1], n_players)


@pytest.mark.parametrize("seed", range(4))
def test_sii_ground_truth_steps_equal_closed_form(seed):
    rng = np.random.default_rng(seed)
    game = RandomGame(12, 6, seed=seed, n_terms=25, max_order=4)
    a, b = rng.normal(size=12), rng.normal(size=6)
    result = sii_ground_truth(game, a, b, steps=5, seed=seed)
    for k, t_value in enumerate(result.per_step):
        from synfaith.metrics import perturbation_path
        from synfaith.games import PlayerGame

        path = perturbation_path(a, b, steps=5)
        players = macro_players(path.image_top[k], path.text_top[k], 6, np.random.default_rng((seed, k)))
        table = PlayerGame(game, players).values(all_coalitions(8))
        assert t_value == pytest.approx(closed_form_pair_sii(table, 8), abs=1e-9)
    assert result.score == pytest.approx(result.per_step.mean())


def test_macro_players_partition_the_units():
    rng = np.random.default_rng(0)
    image_top = np.zeros(20, bool)
    image_top[[3, 7, 9]] = True
    text_top = np.zeros(9, bool)
    text_top[[1]] = True
    players = macro_players(image_top, text_top, 6, rng)
    assert len(players) == 8
    assert players[0].image_units == (3, 7, 9) and players[0].text_units == ()
    assert players[1].text_units == (1,) and players[1].image_units == ()
    background_image = sorted(u for p in players[2:] for u in p.image_units)
    background_text = sorted(u for p in players[2:] for u in p.text_units)
    assert background_image == sorted(set(range(20)) - {3, 7, 9})
    assert background_text == sorted(set(range(9)) - {1})
    sizes = [len(p.image_units) for p in players[2:]]
    assert max(sizes) - min(sizes) <= 1  # near-equal groups
    # coupled: each background player holds image and text units together
    assert all(p.text_units for p in players[2:])


def test_moebius_of_the_pair_is_the_insertion_dividend():
    """With the background absent, the macro pair's dividend is F_syn's S_ins(t) exactly."""
    game = RandomGame(10, 5, seed=4, n_terms=30, max_order=4)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=10), rng.normal(size=5)
    sii = sii_ground_truth(game, a, b)
    fsyn = synergistic_faithfulness(game, a, b)
    np.testing.assert_allclose(sii.moebius_per_step, fsyn.insertion_dividends, atol=1e-12)


def test_sii_is_seeded():
    game = RandomGame(10, 5, seed=4, n_terms=30, max_order=4)
    a, b = np.arange(10.0), np.arange(5.0)
    first, again = sii_ground_truth(game, a, b, seed=3), sii_ground_truth(game, a, b, seed=3)
    np.testing.assert_array_equal(first.per_step, again.per_step)


def test_coalition_index_table_lookup_matches():
    rows = all_coalitions(8)
    values = np.arange(256.0)
    np.testing.assert_array_equal(values[coalition_index(rows[::-1])], values[::-1])
