"""Gradient explainers on the LM input embeddings: InputGradients and Integrated Gradients."""

from __future__ import annotations

import torch

from synfaith.explainers.base import Explainer
from synfaith.explainers.registry import register_explainer
from synfaith.explainers.white_box import answer_log_prob, token_scores_to_units


@register_explainer
class InputGradients(Explainer):
    """Input × gradient at the LM's input embeddings (image tokens after the projector).

    ``r_i = Σ_d x_{i,d} · ∂ log p(target) / ∂ x_{i,d}`` for every input position i; visual
    units take the relevance of their image tokens, text units that of their query tokens.
    """

    name = "input_gradients"

    def attribute(self, model, prepared, target):
        with torch.no_grad():
            embeds, input_ids = model.embedded_inputs(prepared, target)
        embeds = embeds.detach().requires_grad_()
        score = answer_log_prob(model.forward_embeddings(embeds, input_ids, prepared).logits, target).sum()
        (gradient,) = torch.autograd.grad(score, embeds)
        relevance = (embeds.detach() * gradient).sum(-1)[0]
        image_scores, text_scores = token_scores_to_units(prepared, relevance)
        return image_scores, text_scores, {"token_relevance": relevance.float().cpu().numpy()}, 1
