"""Class-activation maps inside the language model: GradCAM and LLaVA-CAM.

Both read the output of an early decoder layer's ``post_attention_layernorm`` (activations
A [L, C]) and its gradient G of the target's log-probability (Selvaraju et al. 2017, as
LLaVA-CAM — Zhang et al. 2025 — applies it to VLMs; the paper uses layer 7):

    w_c   = mean_{i ∈ visual rows} ReLU(G_ic)
    cam_i = mean_c w_c · A_ic                 for visual rows i and, with the same w, query rows

LLaVA-CAM averages ``cam`` over noisy copies of the image (Gaussian noise of std 0.1 on the
[0, 1] pixel scale, added to the preprocessed tensor); GradCAM is one clean pass. The result
is ReLU'd and divided by its maximum, per modality. Visual tokens pool onto visual units.
"""

from __future__ import annotations

import torch

from synfaith.explainers.base import Explainer
from synfaith.contracts import IMAGE_TOKENS, WHITE_BOX, Scores
from synfaith.explainers.white_box import answer_log_prob, gradient_batch_size, max_normalise, token_scores_to_units


def resolve_layer(model, layer: int) -> int:
    """``layer`` as an index into the LM's decoder blocks (negative counts from the end).

    The last block cannot be used: its visual rows feed only their own positions' logits,
    never the answer's, so their gradient is exactly zero. Models with fewer blocks than
    ``layer + 2`` use their second-to-last block (recorded in ``raw["layer"]``).
    """
    n_layers = len(model.language_layers)
    if n_layers < 2:
        raise ValueError("CAM explainers need a language model with at least two decoder blocks")
    resolved = layer + n_layers if layer < 0 else layer
    if resolved < 0:
        raise ValueError(f"layer {layer} is out of range for a language model with {n_layers} blocks")
    return min(resolved, n_layers - 2)


class _LayerCAM(Explainer):
    """GradCAM-style maps at one decoder layer's post-attention norm, averaged over image copies."""

    requires = frozenset({WHITE_BOX, IMAGE_TOKENS})  # reads the LM at the image tokens' positions

    def __init__(self, layer: int = 7, n_samples: int = 1, noise_std: float = 0.0, seed: int = 0, batch_size: int | None = None) -> None:
        if n_samples < 1:
            raise ValueError(f"n_samples must be ≥ 1, got {n_samples}")
        self.layer = layer
        self.n_samples = n_samples
        self.noise_std = noise_std
        self.seed = seed
        self.batch_size = batch_size

    def _images(self, model, prepared) -> torch.Tensor:
        """The ``n_samples`` pixel tensors to average over, [n_samples, *clean.shape]."""
        clean = prepared.pixels.clean
        if self.noise_std == 0:
            return clean[None].expand(self.n_samples, *clean.shape)
        black, white = model.pixel_extremes(prepared)
        generator = torch.Generator().manual_seed(self.seed)
        noise = torch.randn((self.n_samples, *clean.shape), generator=generator, dtype=torch.float64)
        return (clean[None].double() + self.noise_std * (white - black)[None].double() * noise).float()

    def attribute(self, model, prepared, target):
        layer = resolve_layer(model, self.layer)
        norm = model.language_layers[layer].post_attention_layernorm
        images = self._images(model, prepared)
        device, dtype = model.device, model.model.dtype
        cam_sum = None
        captured: list[torch.Tensor] = []
        handle = norm.register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            per_pass = self.batch_size or gradient_batch_size(model)
            for start in range(0, self.n_samples, per_pass):
                chunk = images[start : start + per_pass]
                captured.clear()
                pixels = chunk.reshape(-1, *chunk.shape[2:]).to(device, dtype)
                embeds, input_ids = model.embedded_inputs(prepared, target, pixels, n_variants=chunk.shape[0])
                score = answer_log_prob(model.forward_embeddings(embeds, input_ids, prepared).logits, target).sum()
                activations = captured[0]
                (gradients,) = torch.autograd.grad(score, activations)
                visual = prepared.layout.visual_positions.to(device)
                weights = torch.relu(gradients[:, visual]).mean(1, keepdim=True)  # [U, 1, C]
                cam = (weights * activations.detach()).mean(-1).double().sum(0)  # [L], summed over copies
                cam_sum = cam if cam_sum is None else cam_sum + cam
                del activations, gradients, embeds, score
        finally:
            handle.remove()
            captured.clear()
        cam = torch.relu(cam_sum / self.n_samples).cpu()
        layout = prepared.layout
        image_scores, text_scores = token_scores_to_units(prepared, cam)
        image_scores = max_normalise(torch.from_numpy(image_scores)).numpy()
        text_scores = max_normalise(torch.from_numpy(text_scores)).numpy()
        raw = {"token_cam": cam.float().numpy(), "layer": layer, "visual_positions": layout.visual_positions.numpy()}
        return Scores(image_scores, text_scores, raw, self.n_samples)


class GradCAM(_LayerCAM):
    """GradCAM at an early LM layer's post-attention norm (one clean pass, no smoothing).

    Args:
        layer: decoder block (default 7, as the paper; shallower models use their second-to-last block).
    """

    name = "gradcam"

    def __init__(self, layer: int = 7) -> None:
        super().__init__(layer=layer)


class LLaVACAM(_LayerCAM):
    """LLaVA-CAM: GradCAM at layer 7's post-attention norm, averaged over noisy image copies.

    Args:
        layer: decoder block (shallower models use their second-to-last block).
        n_samples: noisy copies (50 in the reference implementation).
        noise_std: Gaussian noise std on the [0, 1] pixel scale.
        seed: seed of the noise.
        batch_size: copies per forward/backward pass; default: from the model's memory budget
            (:func:`~synfaith.explainers.white_box.gradient_batch_size`).
    """

    name = "llava_cam"

    def __init__(self, layer: int = 7, n_samples: int = 50, noise_std: float = 0.1, seed: int = 0, batch_size: int | None = None) -> None:
        super().__init__(layer=layer, n_samples=n_samples, noise_std=noise_std, seed=seed, batch_size=batch_size)
