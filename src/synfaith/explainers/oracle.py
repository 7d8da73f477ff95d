"""Oracle explainers from planted ground truth (synthetic world): the paper's perfect explainer."""

from __future__ import annotations

import numpy as np

from synfaith.explainers.base import Explainer
from synfaith.contracts import Scores


class Oracle(Explainer):
    """Scores = the planted evidence: each visual unit's coverage by the evidence boxes and
    1 for query units of the deciding words (0 elsewhere). Needs ``instance.ground_truth``."""

    name = "oracle"
    requires = frozenset()  # the planted truth, mapped through the model's own preprocessing
    sign = 1.0

    def attribute(self, model, prepared, target):
        if prepared.instance.ground_truth is None:
            raise ValueError(f"{self.name} needs planted ground truth; instance {prepared.instance.id!r} has none")
        coverage, words = model.ground_truth_units(prepared)
        return Scores(self.sign * coverage, self.sign * words.astype(np.float64))


class ReverseOracle(Oracle):
    """The oracle's ranking reversed: planted evidence last (a lower bound for sanity rows)."""

    name = "reverse_oracle"
    sign = -1.0
