"""Property tests over random games and rankings (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synfaith.games import AdditiveGame, FunctionGame, RandomGame
from synfaith.metrics import perturbation_path, sii_ground_truth, synergistic_faithfulness, unimodal_faithfulness

shapes = st.tuples(st.integers(1, 16), st.integers(1, 8))
seeds = st.integers(0, 2**31 - 1)
steps = st.integers(2, 15)


def _scores(seed, m, n):
    rng = np.random.default_rng(seed)
    return rng.normal(size=m), rng.normal(size=n)


@settings(max_examples=60, deadline=None)
@given(shapes, seeds, steps)
def test_fsyn_is_invariant_to_adding_an_additive_game(shape, seed, k):
    m, n = shape
    game = RandomGame(m, n, seed=seed, n_terms=15, max_order=4)
    additive = AdditiveGame.random(m, n, seed=seed + 1)
    a, b = _scores(seed, m, n)
    plain = synergistic_faithfulness(game, a, b, steps=k)
    shifted = synergistic_faithfulness(game + additive, a, b, steps=k)
    np.testing.assert_allclose(shifted.deletion_dividends, plain.deletion_dividends, atol=1e-9)
    np.testing.assert_allclose(shifted.insertion_dividends, plain.insertion_dividends, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(shapes, seeds, steps)
def test_fsyn_equals_the_dividend_sum_of_a_known_game(shape, seed, k):
    """On v = Σ_d w_d [d ⊆ S]: S_del(t) = Σ_d w_d [d∩A≠∅][d∩B≠∅], S_ins(t) = Σ_d w_d [d ⊆ A∪B, d meets both]."""
    m, n = shape
    game = RandomGame(m, n, seed=seed, n_terms=15, max_order=4)
    a, b = _scores(seed, m, n)
    result = synergistic_faithfulness(game, a, b, steps=k)
    path = perturbation_path(a, b, k)
    for step in range(k):
        top_image, top_text = path.image_top[step], path.text_top[step]
        expected_del = expected_ins = 0.0
        for d in game.dividends:
            image_units, text_units = list(d.image_units), list(d.text_units)
            meets_both = top_image[image_units].any() and top_text[text_units].any()
            expected_del += d.weight * meets_both
            inside = top_image[image_units].all() and top_text[text_units].all()
            expected_ins += d.weight * (inside and bool(image_units) and bool(text_units))
        assert abs(result.deletion_dividends[step] - expected_del) < 1e-9
        assert abs(result.insertion_dividends[step] - expected_ins) < 1e-9


@settings(max_examples=40, deadline=None)
@given(shapes, seeds, steps)
def test_evaluation_counts_are_bounded(shape, seed, k):
    m, n = shape
    a, b = _scores(seed, m, n)
    game = RandomGame(m, n, seed=seed)
    result = synergistic_faithfulness(game, a, b, steps=k)
    assert game.evaluations == result.coalitions == result.evaluations <= 6 * k + 2
    game = RandomGame(m, n, seed=seed)
    sii = sii_ground_truth(game, a, b, steps=k)
    assert game.evaluations == sii.coalitions <= 256 * k + 2


@settings(max_examples=30, deadline=None)
@given(shapes, seeds, steps)
def test_unimodal_srg_is_insertion_minus_deletion(shape, seed, k):
    m, n = shape
    a, b = _scores(seed, m, n)
    result = unimodal_faithfulness(RandomGame(m, n, seed=seed), a, b, steps=k)
    for part in (result.visual, result.textual):
        assert part.srg == part.insertion - part.deletion
        assert part.deletion_curve.shape == part.insertion_curve.shape == (k,)
        # t = 0 deletes nothing and t = 1 inserts everything: both are the clean input
        assert part.deletion_curve[0] == part.insertion_curve[-1]


class CountingFn:
    def __init__(self, game):
        self.game, self.calls = game, 0

    def __call__(self, image_keep, text_keep):
        self.calls += 1
        return self.game._evaluate(image_keep, text_keep)


def test_each_metric_is_one_batched_call_when_the_batch_allows():
    inner = RandomGame(24, 9, seed=5, n_terms=30)
    a, b = _scores(0, 24, 9)
    for metric in (synergistic_faithfulness, unimodal_faithfulness, sii_ground_truth):
        fn = CountingFn(inner)
        game = FunctionGame(fn, 24, 9, batch_size=4096)
        metric(game, a, b)
        assert fn.calls == 1, metric.__name__
        # small batches: one call per batch of distinct coalitions, never one per coalition
        fn = CountingFn(inner)
        game = FunctionGame(fn, 24, 9, batch_size=16)
        metric(game, a, b)
        assert fn.calls == -(-game.evaluations // 16) < game.evaluations
