"""Gradient explainers: input × gradient on the LM input embeddings, and Integrated Gradients."""

from __future__ import annotations

import torch

from synfaith.explainers.base import Explainer
from synfaith.contracts import Scores
from synfaith.explainers.white_box import (
    answer_log_prob,
    embedding_relevance,
    gradient_batch_size,
    pixel_scores_to_units,
    token_scores_to_units,
)


class InputGradients(Explainer):
    """Input × gradient at the LM's input embeddings (image tokens after the projector).

    ``r_i = Σ_d x_{i,d} · ∂ log p(target) / ∂ x_{i,d}`` for every input position i; visual
    units take the relevance of their image tokens, text units that of their query tokens.
    """

    name = "input_gradients"

    def attribute(self, model, prepared, target):
        relevance, _ = embedding_relevance(model, prepared, target)
        image_scores, text_scores = token_scores_to_units(prepared, relevance)
        return Scores(image_scores, text_scores, {"token_relevance": relevance.float().cpu().numpy()}, 1)


class IntegratedGradients(Explainer):
    """Integrated Gradients (Sundararajan et al. 2017) over pixels and query-token embeddings, via Captum.

    One straight path moves both modalities together from the baseline — the processor's
    tensor of an all-black image and the pad-token embedding at every query position (all
    other positions unchanged) — to the input:

        IG_k = (x_k − x'_k) · ∫₀¹ ∂ log p(target)(x' + α(x − x')) / ∂x_k dα,

    so that, by completeness, ``Σ_k IG_k = log p(target | x) − log p(target | x')`` up to the
    quadrature error (recorded as ``raw["convergence_delta"]``). Visual units sum IG over
    their pixels (every channel, every view); text units sum it over their embedding.

    Args:
        steps: quadrature points of the path integral.
        method: Captum's quadrature (``"riemann_trapezoid"``, ``"riemann_middle"``, ``"gausslegendre"``…).
        internal_batch_size: path points per forward/backward pass; default: from the model's
            memory budget (:func:`~synfaith.explainers.white_box.gradient_batch_size`).
    """

    name = "integrated_gradients"

    def __init__(self, steps: int = 50, method: str = "riemann_trapezoid", internal_batch_size: int | None = None) -> None:
        if steps < 2:
            raise ValueError(f"integrated_gradients needs at least 2 steps, got {steps}")
        self.steps = steps
        self.method = method
        self.internal_batch_size = internal_batch_size

    def attribute(self, model, prepared, target):
        from captum.attr import IntegratedGradients as CaptumIntegratedGradients

        device, dtype = model.device, model.model.dtype
        pixel_shape = prepared.pixels.clean.shape
        image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}
        sequence = model.sequence_ids(prepared, target).to(device)[None]
        with torch.no_grad():
            token_embeds = model.model.get_input_embeddings()(sequence)
            pad = model.model.get_input_embeddings()(torch.tensor([model.pad_token_id], device=device))
        text_baseline = token_embeds.clone()
        text_baseline[0, prepared.layout.query_positions.to(device)] = pad
        black, _ = model.pixel_extremes(prepared)
        forward_passes = 0

        def log_prob(pixels: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
            nonlocal forward_passes
            n = pixels.shape[0]
            forward_passes += n
            features = model.image_features(pixels.reshape(-1, *pixel_shape[1:]), n, image_inputs)
            embeds = model.write_image_features(text_embeds, features, prepared)
            logits = model.forward_embeddings(embeds, sequence.expand(n, -1), prepared).logits
            return answer_log_prob(logits, target)

        (pixel_attr, text_attr), delta = CaptumIntegratedGradients(log_prob).attribute(
            (prepared.pixels.clean.to(device, dtype)[None], token_embeds),
            baselines=(black.to(device, dtype)[None], text_baseline),
            n_steps=self.steps,
            method=self.method,
            internal_batch_size=self.internal_batch_size or gradient_batch_size(model),
            return_convergence_delta=True,
        )
        token_relevance = text_attr[0].sum(-1)
        image_scores = pixel_scores_to_units(prepared, pixel_attr[0])
        text_scores = token_relevance.detach().double().cpu()[prepared.layout.query_positions].numpy()  # text embeddings only
        raw = {
            "convergence_delta": float(delta.item()),
            "token_relevance": token_relevance.detach().float().cpu().numpy(),
        }
        return Scores(image_scores, text_scores, raw, forward_passes)
