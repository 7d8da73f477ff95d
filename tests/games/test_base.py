import numpy as np
import pytest

from synfaith.games import AndGame, FunctionGame, SumGame, keep_mask


class CountingFn:
    """A batched game function that records every call it receives."""

    def __init__(self):
        self.batches: list[int] = []

    def __call__(self, image_keep, text_keep):
        self.batches.append(image_keep.shape[0])
        return image_keep.sum(axis=1) * 10.0 + text_keep.sum(axis=1)


def test_function_game_values_and_counters():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=3, n_text=2)
    values = game.values([[1, 0, 1], [1, 1, 1]], [[0, 1], [1, 1]])
    np.testing.assert_array_equal(values, [21.0, 32.0])
    assert game.evaluations == 2 and game.calls == 1 and fn.batches == [2]
    assert game.value(np.ones(3, bool), np.zeros(2, bool)) == 30.0


def test_duplicates_are_evaluated_once_and_cached():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=2, n_text=2)
    image = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], bool)
    text = np.array([[1, 1], [1, 1], [0, 0], [1, 1]], bool)
    np.testing.assert_array_equal(game.values(image, text), [12.0, 12.0, 10.0, 12.0])
    assert fn.batches == [2] and game.evaluations == 2
    # Asking again costs nothing; a new coalition costs one.
    game.values(image, text)
    game.values([[0, 0], [1, 0]], [[0, 0], [1, 1]])
    assert fn.batches == [2, 1] and game.evaluations == 3
    assert game.cache_hits == 2 + 4 + 1


def test_batches_are_split_by_batch_size():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=4, n_text=1, batch_size=3)
    image = np.array([[(r >> b) & 1 for b in range(4)] for r in range(8)], bool)
    game.values(image, np.ones((8, 1), bool))
    assert fn.batches == [3, 3, 2] and game.calls == 3 and game.evaluations == 8


def test_cache_off_still_deduplicates_within_a_request():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=1, n_text=1, cache=False)
    game.values([[1], [1]], [[0], [0]])
    game.values([[1]], [[0]])
    assert fn.batches == [1, 1]


def test_bad_inputs_are_named():
    game = AndGame(3, 2)
    with pytest.raises(ValueError, match=r"image_keep must have shape \[batch, 3\]"):
        game.values(np.ones((1, 4), bool), np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="same number of coalitions"):
        game.values(np.ones((2, 3), bool), np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="boolean keep-masks"):
        game.values(np.full((1, 3), 0.5), np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="one value per coalition"):
        FunctionGame(lambda a, b: np.zeros(7), 2, 2).values(np.ones((2, 2), bool), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="batch_size"):
        AndGame(3, 2, batch_size=0)


def test_sum_game_adds_values_and_checks_units():
    a, b = AndGame(3, 2, 0, 0), AndGame(3, 2, 1, 1)
    total = a + b
    assert isinstance(total, SumGame)
    assert total.value(np.ones(3, bool), np.ones(2, bool)) == 2.0
    assert total.value(keep_mask(3, [0]), keep_mask(2, [0])) == 1.0
    with pytest.raises(ValueError, match="same units"):
        SumGame(a, AndGame(4, 2))


def test_keep_mask():
    np.testing.assert_array_equal(keep_mask(4, [1, 3]), [False, True, False, True])
    np.testing.assert_array_equal(keep_mask(2), [False, False])


def test_out_of_memory_splits_the_batch_and_lowers_batch_size_instead_of_failing():
    from synfaith.games.base import Game

    class SmallMemory(Game):
        """A game whose 'device' holds at most 3 coalitions per call (an artificially small memory budget)."""

        def __init__(self):
            super().__init__(4, 2, batch_size=16)
            self.sizes = []

        def _evaluate(self, image_keep, text_keep):
            self.sizes.append(len(image_keep))
            if len(image_keep) > 3:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return image_keep.sum(1) + 10 * text_keep.sum(1)

    game = SmallMemory()
    rng = np.random.default_rng(0)
    image, text = rng.random((40, 4)) < 0.5, rng.random((40, 2)) < 0.5
    with pytest.warns(RuntimeWarning, match=r"out of memory at a batch of 1[0-6]; halving the batch until it fits"):
        values = game.values(image, text)
    distinct = len({(a.tobytes(), b.tobytes()) for a, b in zip(image, text)})
    np.testing.assert_array_equal(values, image.sum(1) + 10 * text.sum(1))
    assert game.batch_size <= 3 and game.evaluations == distinct and max(s for s in game.sizes[-3:]) <= 3

    class NoMemory(SmallMemory):
        def _evaluate(self, image_keep, text_keep):
            raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="out of memory"), pytest.warns(RuntimeWarning):
        NoMemory().values(image[:4], text[:4])  # one coalition that does not fit still fails
    with pytest.raises(ValueError, match="not memory"):
        FunctionGame(lambda a, b: (_ for _ in ()).throw(ValueError("not memory")), 2, 1).values(np.ones((2, 2), bool), np.ones((2, 1), bool))


def test_batches_do_not_split_a_run_of_equal_image_masks():
    """Sorted by image mask, a batch ends before a mask's run that would straddle its end."""
    from synfaith.games.base import FunctionGame

    batches = []

    def record(image_keep, text_keep):
        batches.append(image_keep.copy())
        return image_keep.sum(1) + 10.0 * text_keep.sum(1)

    rng = np.random.default_rng(3)
    masks = rng.random((7, 5)) < 0.5
    image = np.repeat(masks, 3, axis=0)  # 7 masks × 3 text variants each
    text = np.tile(np.eye(3, dtype=bool), (7, 1))
    game = FunctionGame(record, 5, 3, batch_size=8)
    np.testing.assert_array_equal(game.values(image, text), image.sum(1) + 10.0 * text.sum(1))
    seen = [{row.tobytes() for row in batch} for batch in batches]
    assert all(len(b) <= 8 for b in batches) and sum(len(b) for b in batches) == len({r.tobytes() for r in masks}) * 3
    for i, first in enumerate(seen):  # no mask in two batches
        for second in seen[i + 1 :]:
            assert not first & second


def test_coalitions_that_differ_only_in_inert_units_are_one_evaluation():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=3, n_text=2)
    game.declare_inert(image=[False, True, False], text=[True, False])
    # unit 1 of the image and unit 0 of the text are kept whatever the mask says
    image = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], bool)
    text = np.array([[0, 1], [1, 1], [0, 0], [1, 0]], bool)
    np.testing.assert_array_equal(game.values(image, text), [22.0, 22.0, 21.0, 21.0])
    assert fn.batches == [2] and game.evaluations == 2
    assert game.distinct_coalitions(image, text) == 2 and len(game.coalition_keys(image, text)) == 4
    with game.metered() as cost:
        game.values([[0, 0, 0], [0, 1, 0]], [[0, 0], [1, 0]])
    assert (cost.coalitions, cost.evaluations) == (1, 1)


def test_declaring_inert_units_checks_the_shape_and_forgets_the_cache():
    fn = CountingFn()
    game = FunctionGame(fn, n_image=2, n_text=1)
    game.values([[1, 0]], [[1]])
    with pytest.raises(ValueError, match=r"inert image units must be bool\[2\]"):
        game.declare_inert(image=[True])
    game.declare_inert(text=[True])
    game.values([[1, 0]], [[0]])
    assert fn.batches == [1, 1]  # evaluated again after the declaration
