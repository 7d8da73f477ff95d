"""TAM — Token Activation Map (Li et al., ICCV 2025), re-implemented on ids and positions.

With ``h_i`` the final (post-norm) hidden state at position i and ``W`` the LM head, the
activation of class c at i is ``a_i(c) = ReLU(W_c · h_i)``. For the target class c* (the first
answer token; the hidden states are those of the teacher-forced sequence, so the prompt and
any generated prefix are context):

1. raw map ``M = a_i(c*)`` at the image tokens, text scores ``s_j = a_j(c*)`` at the query tokens;
2. estimated causal inference: each earlier text token k (the query, then the generated
   prefix; tokens whose text equals the target's are skipped) contributes its own class's
   map ``M_k = a_i(id_k)`` with weight ``w_k = a_k(c*) / Σ_k a_k(c*)``; the interference
   ``I = Σ_k w_k M_k`` is removed by least squares: ``M′ = ReLU(M − αI)``, ``α = ⟨M, I⟩/⟨I, I⟩``;
3. ``[M′, s]`` is min–max normalised jointly to [0, 1];
4. a rank Gaussian filter denoises the image part on the visual unit grid: for every unit
   the 3×3 window (reflect padding) is sorted, ``μ``/``σ_w`` are its mean and std; the
   output is 0 if ``μ ≤ 0``, otherwise ``Σ_r k_r · sorted_r`` with ``k_r ∝ exp(−r² / 2σ²)``,
   ``σ = σ_w / μ`` over rank offsets r ∈ {−4 … 4} from the median.

Differences from the official repository (deliberate, see REFERENCE.md §1): the target is
addressed by position and id (its first-answer branch takes the last prompt token's id as
class), and text spans come from the adapter's token layout instead of a pattern search.
"""

from __future__ import annotations

import numpy as np
import torch

from synfaith.explainers.base import Explainer
from synfaith.contracts import IMAGE_TOKENS, WHITE_BOX, Scores
from synfaith.explainers.white_box import predicting_positions, visual_token_scores_to_units


def rank_gaussian_filter(grid_values: np.ndarray) -> np.ndarray:
    """TAM's rank Gaussian filter over a 2-D map (3×3 windows, reflect padding)."""
    rows, cols = grid_values.shape
    padded = np.pad(grid_values, 1, mode="reflect") if min(rows, cols) > 1 else np.pad(grid_values, 1, mode="edge")
    windows = np.stack([padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)], axis=-1)
    ordered = np.sort(windows, axis=-1)
    mean, spread = ordered.mean(-1), ordered.std(-1)
    offsets = np.arange(9) - 4
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.where(mean > 0, spread / np.where(mean > 0, mean, 1.0), 0.0)
        kernel = np.exp(-(offsets**2) / (2 * sigma[..., None] ** 2))
    # a flat window (σ = 0) keeps its median only
    kernel = np.where(sigma[..., None] > 0, kernel, (offsets == 0).astype(float))
    kernel /= kernel.sum(-1, keepdims=True)
    return np.where(mean > 0, (kernel * ordered).sum(-1), 0.0)


class TAM(Explainer):
    """Token activation maps with estimated causal inference and a rank Gaussian filter.

    Args:
        causal_inference: remove context-token interference (step 2); off gives the raw map.
        rank_filter: apply the rank Gaussian filter (step 4).
    """

    requires = frozenset({WHITE_BOX, IMAGE_TOKENS})  # reads the LM at the image tokens' positions

    name = "tam"

    def __init__(self, causal_inference: bool = True, rank_filter: bool = True) -> None:
        self.causal_inference = causal_inference
        self.rank_filter = rank_filter

    def attribute(self, model, prepared, target):
        with torch.no_grad():
            embeds, input_ids = model.embedded_inputs(prepared, target)
            output = model.forward_embeddings(embeds, input_ids, prepared, output_hidden_states=True)
            hidden = output.hidden_states[-1][0].double()
            head = model.model.get_output_embeddings().weight.double()
        layout = prepared.layout
        target_class = int(target.answer_ids[0])
        target_position = int(predicting_positions(input_ids.shape[1], target)[0])
        visual_hidden = hidden[layout.visual_positions.to(hidden.device)]

        activation = torch.relu(hidden[: target_position + 1] @ head[target_class])  # a_i(c*)
        image_map = activation[layout.visual_positions.to(hidden.device)]
        text_scores = activation[layout.query_positions.to(hidden.device)]

        interference_removed = 0.0
        if self.causal_inference:
            image_map, interference_removed = self._remove_interference(
                model, prepared, target, input_ids[0], activation, visual_hidden, head, image_map
            )
        unit_map = visual_token_scores_to_units(prepared, image_map)
        text = text_scores.cpu().numpy()
        joint = np.concatenate([unit_map, text])
        low, high = joint.min(), joint.max()
        if high > low:
            unit_map, text = (unit_map - low) / (high - low), (text - low) / (high - low)
        if self.rank_filter:
            grid = prepared.unit_grid
            filtered = rank_gaussian_filter(unit_map[grid])
            unit_map = np.zeros_like(unit_map)
            unit_map[grid.ravel()] = filtered.ravel()
        raw = {"interference_coefficient": interference_removed, "target_class": target_class}
        return Scores(unit_map, text, raw, 1)

    def _remove_interference(self, model, prepared, target, ids, activation, visual_hidden, head, image_map):
        layout = prepared.layout
        prompt_length = layout.input_ids.numel()
        prefix = range(prompt_length, prompt_length + target.prefix_ids.numel())
        context = layout.query_positions.tolist() + list(prefix)
        decode = model.tokenizer.decode
        target_text = decode([int(target.answer_ids[0])]).strip()
        context = [k for k in context if decode([int(ids[k])]).strip() != target_text]
        weights = activation[context]
        if not context or float(weights.sum()) <= 0:
            return image_map, 0.0
        weights = weights / weights.sum()
        context_classes = ids[context].to(head.device)
        context_maps = torch.relu(visual_hidden @ head[context_classes].T)  # [v, k]
        interference = context_maps @ weights
        norm = float(interference @ interference)
        if norm == 0:
            return image_map, 0.0
        alpha = float(image_map @ interference) / norm
        return torch.relu(image_map - alpha * interference), alpha
