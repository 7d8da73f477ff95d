"""Shared plumbing of white-box explainers: the target's score and pooling onto units.

Every white-box explainer differentiates (or reads attention for) the same scalar: the
log-probability of the target's answer tokens, teacher-forced after the prompt and the
generated prefix — the log of the game's value on the clean input (AttnLRP starts from the
answer logits instead, as LRP conserves a logit, not a log-softmax). Token-level relevance at
the visual positions is pooled onto visual units with the adapter's ``token_units`` map (the
identity where tokens are units; InternVL's thumbnail tokens spread over their cells);
pixel-level relevance is summed over each unit's elements in every view.
"""

from __future__ import annotations

import numpy as np
import torch

from synfaith.models.base import answer_log_prob

__all__ = [
    "answer_log_prob",
    "answer_logit",
    "embedding_relevance",
    "max_normalise",
    "pixel_scores_to_units",
    "predicting_positions",
    "token_scores_to_units",
    "visual_token_scores_to_units",
]


def visual_token_scores_to_units(prepared, visual_scores: torch.Tensor) -> np.ndarray:
    """Scores of the v image tokens [v] (or [k, v]) pooled onto the m visual units: [m] (or [k, m])."""
    visual_scores = visual_scores.detach().double().cpu()
    return (visual_scores @ prepared.token_units.double()).numpy()


def token_scores_to_units(prepared, token_scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Split per-position scores [L] into visual-unit scores [m] and query-unit scores [n].

    A cross-attention model (mllama) has no image tokens: its merged embeddings end with the
    cross-attention states, one row of ``token_units`` each, so scores over them [L + v] give
    the visual units their last v entries.
    """
    token_scores = token_scores.detach().double().cpu()
    layout = prepared.layout
    n_states = prepared.token_units.shape[0] if layout.visual_positions.numel() == 0 else 0
    visual = token_scores[token_scores.numel() - n_states :] if n_states else token_scores[layout.visual_positions]
    image_scores = visual_token_scores_to_units(prepared, visual)
    return image_scores, token_scores[layout.query_positions].numpy()


def pixel_scores_to_units(prepared, pixel_scores: torch.Tensor) -> np.ndarray:
    """A map shaped like the pixel tensor, summed over each visual unit's elements: [m]."""
    return prepared.pixels.unit_sums(pixel_scores)


def predicting_positions(sequence_length: int, target) -> torch.Tensor:
    """Positions whose logits predict the answer tokens (the last ``a`` of the teacher-forced sequence)."""
    n_answer = target.answer_ids.numel()
    return torch.arange(sequence_length - n_answer, sequence_length)


def answer_logit(logits: torch.Tensor, target) -> torch.Tensor:
    """Sum of the answer tokens' raw logits at their predicting positions: shape [B]."""
    n_answer = target.answer_ids.numel()
    answer = target.answer_ids.to(logits.device)[None, :, None].expand(logits.shape[0], -1, 1)
    return logits[:, -n_answer:].gather(-1, answer).squeeze(-1).sum(-1)


def embedding_relevance(model, prepared, target, scalar=answer_log_prob) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient × input at the LM's input embeddings: ``(r [L], scalar)`` with ``r_i = Σ_d x_id ∂s/∂x_id``.

    ``scalar(logits, target) -> [B]`` is the quantity explained (the answer's log-probability by
    default; AttnLRP passes :func:`answer_logit` and runs this under its rules).
    """
    with torch.no_grad():
        embeds, input_ids = model.embedded_inputs(prepared, target)
    embeds = embeds.detach().requires_grad_()
    score = scalar(model.forward_embeddings(embeds, input_ids, prepared).logits, target).sum()
    (gradient,) = torch.autograd.grad(score, embeds)
    return (embeds.detach() * gradient).sum(-1)[0], score.detach()


def max_normalise(scores: torch.Tensor) -> torch.Tensor:
    """``scores / max(scores)`` when the maximum is positive (CAM convention), else unchanged."""
    peak = scores.max()
    return scores / peak if peak > 0 else scores


def gradient_batch_size(model, default: int = 8) -> int:
    """Inputs per forward/backward pass of a gradient explainer, from the model's memory budget.

    A backward pass keeps every layer's activations, which a game's forward under
    ``inference_mode`` does not: a quarter of the model's game batch (its ``batch_size``, fixed or
    probed by ``batch_size: auto``), at least 1; ``default`` when the model has none yet.
    """
    size = getattr(model, "batch_size", None)
    return max(1, size // 4) if isinstance(size, int) and not isinstance(size, bool) else default
