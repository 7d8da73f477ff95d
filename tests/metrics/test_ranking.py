import numpy as np
import pytest

from synfaith.metrics import DegenerateAttributionError, perturbation_path, rank_units, step_fractions, top_counts


def test_rank_descending_with_lower_index_tie_break():
    np.testing.assert_array_equal(rank_units([0.1, 0.5, 0.5, 0.9, 0.1]), [3, 1, 2, 0, 4])


def test_top_counts_are_exact_ceilings():
    np.testing.assert_array_equal(top_counts(10, 11), np.arange(11))
    # ⌈k·3/10⌉ — floats would give ⌈3.0000000000000004⌉ = 4 at k = 10·(0.3·...) style steps
    np.testing.assert_array_equal(top_counts(3, 11), [0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(top_counts(7, 3), [0, 4, 7])
    np.testing.assert_allclose(step_fractions(5), [0, 0.25, 0.5, 0.75, 1])


def test_path_masks_are_nested_top_sets():
    path = perturbation_path([0.2, 0.9, 0.5, 0.1], [1.0, 3.0], steps=3)
    np.testing.assert_array_equal(path.image_top, [[0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(path.text_top, [[0, 0], [0, 1], [1, 1]])


@pytest.mark.parametrize("scores", [[0.1, np.nan, 0.3], [np.inf, 0.0], [0.4, 0.4, 0.4]])
def test_degenerate_attributions_are_errors(scores):
    with pytest.raises(DegenerateAttributionError):
        rank_units(scores)


def test_single_unit_is_rankable_and_steps_validated():
    np.testing.assert_array_equal(rank_units([0.0]), [0])
    with pytest.raises(ValueError, match="steps"):
        step_fractions(1)
