"""Attention-flow explainers over the language model: Rollout and GradRollout.

Both read the post-softmax attention weights A_l (heads × L × L) of every decoder layer on
the teacher-forced sequence (eager attention, switched on for the call and restored after)
and read the rows t of the positions that predict the answer tokens (averaged over them).

* Rollout (Abnar & Zuidema 2020): ``Ã_l = ½ mean_h A_l + ½ I``; the relevance of position j is
  row t of ``Ã_L ⋯ Ã_1`` (a row-stochastic matrix).
* GradRollout (Chefer et al. 2021, their rules for a decoder whose sequence holds the image
  tokens): ``R ← I``; for l = 1..L, ``Ā_l = mean_h ReLU(∂ log p / ∂A_l ⊙ A_l)`` and
  ``R ← R + Ā_l R``; the relevance of position j is ``R[t, j] − I[t, j]``.
"""

from __future__ import annotations

import torch

from synfaith.explainers.base import Explainer
from synfaith.contracts import ATTENTION, IMAGE_TOKENS, WHITE_BOX, Scores
from synfaith.explainers.white_box import answer_log_prob, predicting_positions, token_scores_to_units


def rollout(attentions, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Rows of the attention rollout ``Ã_L ⋯ Ã_1`` with ``Ã_l = ½ mean_h A_l + ½ I``.

    Args:
        attentions: per layer (first to last) a tensor [heads, L, L] (or [1, heads, L, L]).
        rows: positions whose rows to return (all rows if None).

    Returns:
        float64 [len(rows), L]; every row sums to 1 when every attention row does.
    """
    length = attentions[0].shape[-1]
    identity = torch.eye(length, dtype=torch.float64, device=attentions[0].device)
    flow = identity if rows is None else identity[rows.to(identity.device)]
    for attention in reversed(attentions):
        mixed = 0.5 * attention.reshape(-1, length, length).double().mean(0) + 0.5 * identity
        flow = flow @ mixed
    return flow


def gradient_rollout(attentions, gradients) -> torch.Tensor:
    """Chefer et al.'s relevance matrix ``R`` (L × L) from attentions and their gradients, first layer first."""
    length = attentions[0].shape[-1]
    relevance = torch.eye(length, dtype=torch.float64, device=attentions[0].device)
    for attention, gradient in zip(attentions, gradients):
        weighted = torch.relu(gradient.double() * attention.double()).reshape(-1, length, length).mean(0)
        relevance = relevance + weighted @ relevance
    return relevance


def _attention_pass(model, prepared, target, *, with_gradients: bool):
    with model.eager_attention():
        with torch.set_grad_enabled(with_gradients):
            embeds, input_ids = model.embedded_inputs(prepared, target)
            output = model.forward_embeddings(embeds, input_ids, prepared, output_attentions=True)
            attentions = [a.detach()[0] for a in output.attentions]
            if not with_gradients:
                return attentions, None, input_ids.shape[1]
            score = answer_log_prob(output.logits, target).sum()
            gradients = [g[0] for g in torch.autograd.grad(score, output.attentions)]
            return attentions, gradients, input_ids.shape[1]


class Rollout(Explainer):
    """Attention rollout over the LM's layers, read at the answer-predicting rows."""

    name = "rollout"
    requires = frozenset({WHITE_BOX, ATTENTION, IMAGE_TOKENS})

    def attribute(self, model, prepared, target):
        attentions, _, length = _attention_pass(model, prepared, target, with_gradients=False)
        rows = rollout(attentions, predicting_positions(length, target))
        relevance = rows.mean(0)
        image_scores, text_scores = token_scores_to_units(prepared, relevance)
        return Scores(image_scores, text_scores, {"token_relevance": relevance.float().cpu().numpy()}, 1)


class GradRollout(Explainer):
    """Gradient-weighted attention rollout (Chefer et al. 2021), read at the answer-predicting rows."""

    name = "grad_rollout"
    requires = frozenset({WHITE_BOX, ATTENTION, IMAGE_TOKENS})

    def attribute(self, model, prepared, target):
        attentions, gradients, length = _attention_pass(model, prepared, target, with_gradients=True)
        relevance_matrix = gradient_rollout(attentions, gradients)
        rows = predicting_positions(length, target).to(relevance_matrix.device)
        identity = torch.eye(length, dtype=torch.float64, device=relevance_matrix.device)
        relevance = (relevance_matrix[rows] - identity[rows]).mean(0)
        image_scores, text_scores = token_scores_to_units(prepared, relevance)
        return Scores(image_scores, text_scores, {"token_relevance": relevance.float().cpu().numpy()}, 1)
