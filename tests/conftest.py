"""Shared test helpers."""

import numpy as np
import pytest


def one_hot(n: int, index: int) -> np.ndarray:
    """Scores that rank ``index`` first, then the rest in index order."""
    scores = -np.arange(n, dtype=float) / max(n, 1)
    scores[index] = 1.0
    return scores


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
