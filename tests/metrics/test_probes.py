"""Influence and stability functions on hand-made score vectors."""

import numpy as np
import pytest

from synfaith.metrics.probes import joint_ranks, modality_influence, unified_stability


def test_modality_influence():
    text, image = np.array([3.0, 1.0, 2.0]), np.array([0.1, 0.5, 0.3, 0.2])
    same = modality_influence(text, text * 2, image, image + 1)
    assert same.text_without_image == 0.0 and same.image_without_text == 0.0
    reversed_ = modality_influence(text, -text, image, -image)
    assert reversed_.text_without_image == pytest.approx(2.0) and reversed_.image_without_text == pytest.approx(2.0)
    flat = modality_influence(text, np.zeros(3), image, image)
    assert flat.text_without_image == 1.0  # a flat map shares no ranking with a ranked one


def test_joint_ranks_put_modalities_on_one_scale():
    ranks = joint_ranks(np.array([10.0, 20.0]), np.array([0.001, 0.003, 0.002]))
    np.testing.assert_allclose(ranks, [0.5, 1.0, 1 / 3, 1.0, 2 / 3])


def test_unified_stability():
    image, text = np.arange(8.0), np.arange(4.0)
    assert unified_stability(image, text, [(image, text), (image * 3, text + 1)]) == pytest.approx(
        type(unified_stability(image, text, [(image, text)]))(1.0, 1.0, 2)
    )
    shuffled = unified_stability(image, text, [(image[::-1], text[::-1])], top_fraction=0.25)
    assert shuffled.spearman < 0 and shuffled.top_k_overlap == 0.0 and shuffled.draws == 1
    empty = unified_stability(image, text, [])
    assert empty.draws == 0 and np.isnan(empty.spearman)
