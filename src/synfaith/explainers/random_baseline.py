"""The Random baseline: seeded uniform scores, reproducible per instance."""

from __future__ import annotations

import zlib

import numpy as np

from synfaith.explainers.base import Explainer
from synfaith.contracts import Scores


class Random(Explainer):
    """Uniform random scores from a generator seeded by ``(seed, crc32(instance id))``."""

    name = "random"
    requires = frozenset()  # needs nothing of the model: a baseline

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def attribute(self, model, prepared, target):
        rng = np.random.default_rng([self.seed, zlib.crc32(prepared.instance.id.encode())])
        return Scores(rng.random(prepared.n_image_units), rng.random(prepared.n_text_units))
