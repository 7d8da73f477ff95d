"""Held-out accuracy of a toy checkpoint on clean inputs and with each modality at its zero-state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synfaith.data.instance import Instance


# ----------------------------------------------------------------------------------------
# Evaluation: greedy first answer token under the three input conditions
# ----------------------------------------------------------------------------------------
CONDITIONS = ("clean", "image_masked", "query_masked")


@dataclass
class Accuracy:
    """Accuracy per (family, subset, condition) on a set of instances."""

    table: dict[str, dict[str, dict[str, float]]]
    n_per_cell: int

    def get(self, family: str, subset: str, condition: str = "clean") -> float:
        return self.table[family][subset][condition]


@torch.inference_mode()
def evaluate(adapter, instances: Sequence[Instance]) -> Accuracy:
    """Greedy answers of the model on clean inputs, with the image at its zero-state, and with
    the query tokens at theirs; parsed with each instance's answer format."""
    from synfaith.models.answers import UnparseableAnswerError, answer_format_for

    hits: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    for instance in instances:
        prepared = adapter.prepare(instance)
        m, n = prepared.n_image_units, prepared.n_text_units
        image_keep = np.array([[True] * m, [False] * m, [True] * m])
        text_keep = np.array([[True] * n, [True] * n, [False] * n])
        tokens = adapter.next_token_logits(prepared, image_keep, text_keep).argmax(-1)
        answer_format = answer_format_for(instance)
        reference = answer_format.parse(instance.answer).answer
        for condition, token in zip(CONDITIONS, tokens.tolist()):
            try:
                correct = answer_format.parse(adapter.tokenizer.decode([token])).answer == reference
            except UnparseableAnswerError:
                correct = False
            hits[(instance.meta["family"], instance.meta["subset"], condition)].append(correct)
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for (family, subset, condition), values in sorted(hits.items()):
        table[family][subset][condition] = float(np.mean(values))
    n = min(len(v) for v in hits.values()) if hits else 0
    return Accuracy({f: dict(s) for f, s in table.items()}, n)
