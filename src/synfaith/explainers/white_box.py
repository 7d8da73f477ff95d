"""Shared plumbing of white-box explainers: the target's score and pooling onto units.

Every white-box explainer differentiates (or reads attention for) the same scalar: the
log-probability of the target's answer tokens, teacher-forced after the prompt and the
generated prefix — the log of the game's value on the clean input. Token-level relevance at
the visual positions is pooled onto visual units with the adapter's ``token_units`` map
(the identity where tokens are units; InternVL's thumbnail tokens spread over their cells).
"""

from __future__ import annotations

import numpy as np
import torch

from synfaith.models.base import answer_log_prob

__all__ = ["answer_log_prob", "token_scores_to_units"]


def token_scores_to_units(prepared, token_scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Split per-position scores [L] into visual-unit scores [m] and query-unit scores [n]."""
    token_scores = token_scores.detach().float().cpu()
    layout = prepared.layout
    visual = token_scores[layout.visual_positions]
    image_scores = prepared.token_units.T.float() @ visual
    return image_scores.double().numpy(), token_scores[layout.query_positions].double().numpy()
