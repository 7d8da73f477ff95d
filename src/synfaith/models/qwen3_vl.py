"""Qwen3-VL (``Qwen/Qwen3-VL-2B-Instruct``, ``-4B-Instruct`` and the other dense Qwen3-VL checkpoints).

Token layout: ``<|im_start|>user\\n<|vision_start|><|image_pad|>×N<|vision_end|>{question}``
``<|im_end|>\\n<|im_start|>assistant\\n`` (the Instruct template has no default system prompt).
The image is ``smart_resize``-d to multiples of 32 px within ``[min_pixels, max_pixels]``;
``image_grid_thw = (1, H/16, W/16)`` patches of 16 px (a still image fills both frames of the
temporal patch of 2), merged 2×2 into N = (H/32)(W/32) LM tokens. The pixel rows are in
merge-block order: merged token k owns rows 4k..4k+3 of ``pixel_values``, and the tokens run
row-major over the (H/32)×(W/32) grid. Visual unit = merged token k = grid cell
(k // (W/32), k % (W/32)), a 32×32 px square of the resized image. The LM uses interleaved
multimodal RoPE, so calls with ``inputs_embeds`` pass ``position_ids`` from ``get_rope_index``.

DeepStack: besides the merged tokens, the vision tower returns one more merged feature per
``deepstack_visual_indexes`` layer (real 2B/4B: vision layers 5, 11, 17), which the language model
adds to the hidden states at the visual positions after its first decoder layers. So that every
path (the game, prefix sharing, white-box explainers) feeds the features of *the same masked
image* to both places, :meth:`Qwen3VLAdapter.image_features` returns them side by side along
the last dimension — ``[U, N, d·(1 + k)]``: the merged tokens, then the k DeepStack levels — and
the merged embeddings carry them as extra channels (zero at non-visual positions).
:meth:`Qwen3VLAdapter.model_forward` splits the channels again: the first d are
``inputs_embeds``, the rest become the language model's ``deepstack_visual_embeds`` with
``visual_pos_masks``. Gradients reach the pixels through both, and a gradient with respect to
the merged embeddings covers both as well (gradient × input at an image token sums over the
token's input embedding and its DeepStack features).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import Qwen3VLForConditionalGeneration, Qwen3VLProcessor

from synfaith.models.processors import image_only_processor
from synfaith.models.qwen2_5_vl import Qwen25VLAdapter
from synfaith.models.white_box import WhiteBoxAccess

__all__ = ["DEFAULT_MAX_PIXELS", "ImageOnlyQwen3VLProcessor", "Qwen3VLAdapter", "honour_size_bounds"]

# The paper caps Qwen2.5-VL at 313600 px (560², 400 merged 28-px tokens). Qwen3-VL merges 32-px
# squares, so the cap in whole 32×32 cells closest below it: 300 cells = 307200 px (640×480 exactly,
# 544×544 for a square image); the checkpoint's own is 16777216 (4096²).
DEFAULT_MAX_PIXELS = 300 * 32 * 32

_ImageOnlyProcessor = image_only_processor(Qwen3VLProcessor, "Qwen2VLImageProcessor", module=__name__)


def honour_size_bounds(image_processor, directory) -> None:
    """Set the slow image processor's pixel bounds from ``size`` in ``preprocessor_config.json``.

    Qwen3-VL checkpoints give their bounds only as ``size`` (``shortest_edge`` 65536,
    ``longest_edge`` 16777216), which the fast processor they name honours, but the slow
    ``Qwen2VLImageProcessor.__init__`` of transformers 4.57 discards in favour of its
    Qwen2-VL defaults (3136 .. 1003520): a small image would get 2×2 tokens instead of the
    checkpoint's 8×8. Explicit ``min_pixels`` / ``max_pixels`` in the file win, as in transformers.
    """
    import json
    import os

    path = os.path.join(os.fspath(directory), "preprocessor_config.json")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    size = dict(config.get("size") or {})
    if not {"shortest_edge", "longest_edge"} <= size.keys():
        return
    size["shortest_edge"] = int(config.get("min_pixels", size["shortest_edge"]))
    size["longest_edge"] = int(config.get("max_pixels", size["longest_edge"]))
    image_processor.size = size
    image_processor.min_pixels, image_processor.max_pixels = size["shortest_edge"], size["longest_edge"]


class ImageOnlyQwen3VLProcessor(_ImageOnlyProcessor):
    """``Qwen3VLProcessor`` without the video processor (no torchvision).

    Images only: calling it with ``videos=`` raises. The image processor is the slow
    ``Qwen2VLImageProcessor`` (the checkpoints name its fast twin), patch 16, merge 2, temporal
    patch 2, with the checkpoint's pixel bounds (:func:`honour_size_bounds`); ``min_pixels`` /
    ``max_pixels`` may be passed in the call.
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        processor = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        honour_size_bounds(processor.image_processor, pretrained_model_name_or_path)
        return processor


class Qwen3VLAdapter(Qwen25VLAdapter):
    """Qwen3-VL as a game: one unit per merged 2×2 patch token, DeepStack features included.

    Args:
        max_pixels: resolution cap of the image processor (:data:`DEFAULT_MAX_PIXELS`, 307200,
            by default; None: the checkpoint's own).
        min_pixels: lower bound (None: the checkpoint's own, 65536 = 256² on the real ones).
    """

    model_types = ("qwen3_vl",)

    def __init__(self, model, processor, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, min_pixels: int | None = None, **options):
        super().__init__(model, processor, max_pixels=max_pixels, min_pixels=min_pixels, **options)
        self.text_width = int(model.config.text_config.hidden_size)
        self.deepstack_levels = len(model.config.vision_config.deepstack_visual_indexes or ())

    @classmethod
    def model_class(cls):
        return Qwen3VLForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyQwen3VLProcessor

    # -- visual features: merged tokens and DeepStack levels side by side -------------------
    def image_features(self, pixel_values, n_variants, image_inputs):
        """``[U, N, d·(1 + k)]``: each variant's merged tokens, then its k DeepStack features."""
        grid = image_inputs["image_grid_thw"].repeat(n_variants, 1)
        merged, deepstack = self.model.get_image_features(pixel_values, grid)
        levels = [torch.stack(list(merged))]
        for level in deepstack:  # [U·N, d] each, the variants one after the other
            levels.append(level.reshape(n_variants, -1, level.shape[-1]))
        return torch.cat(levels, dim=-1)

    @staticmethod
    def write_image_features(token_embeds: torch.Tensor, image_features: torch.Tensor, prepared) -> torch.Tensor:
        """``token_embeds`` [B, L, d] widened with zero DeepStack channels, the features written
        at the visual positions: [B, L, d·(1 + k)] (differentiable in both)."""
        extra = image_features.shape[-1] - token_embeds.shape[-1]
        if extra > 0:
            token_embeds = torch.cat([token_embeds, token_embeds.new_zeros(*token_embeds.shape[:-1], extra)], dim=-1)
        return WhiteBoxAccess.write_image_features(token_embeds, image_features, prepared)

    def model_forward(self, inputs_embeds: torch.Tensor, prepared, **kwargs):
        """The model on merged embeddings; their DeepStack channels go to the language model.

        Embeddings of the LM's own width (the suffix of a shared prefix, which holds no image
        token) run as they are. Wider ones start at position 0 and hold the image tokens at
        ``prepared.layout.visual_positions``.
        """
        width = self.text_width
        if inputs_embeds.shape[-1] == width:
            return self._final_norm_last(super().model_forward(inputs_embeds, prepared, **kwargs))
        if inputs_embeds.shape[-1] != width * (1 + self.deepstack_levels):
            raise ValueError(
                f"merged embeddings of width {inputs_embeds.shape[-1]}: expected {width} or {width} × (1 + "
                f"{self.deepstack_levels} DeepStack levels)"
            )
        batch, length = inputs_embeds.shape[:2]
        positions = prepared.layout.visual_positions.to(inputs_embeds.device)
        visual_mask = torch.zeros((batch, length), dtype=torch.bool, device=inputs_embeds.device)
        visual_mask[:, positions] = True
        visual = inputs_embeds[:, positions]  # [B, N, d·(1 + k)], row-major as hidden[visual_mask]
        deepstack = [visual[..., width * (j + 1) : width * (j + 2)].reshape(-1, width) for j in range(self.deepstack_levels)]
        with self._deepstack_inputs(visual_mask, deepstack):
            return self._final_norm_last(super().model_forward(inputs_embeds[..., :width], prepared, **kwargs))

    def _final_norm_last(self, output):
        """``hidden_states[-1]`` after the LM's final norm, as other models return it.

        In transformers 4.57 the outermost ``check_model_inputs`` (on
        ``Qwen3VLForConditionalGeneration.forward``, whose output has no ``last_hidden_state``)
        leaves the last decoder layer's output there, before the norm the LM head reads; hidden
        state readers such as TAM need the normed one (the family tests check ``lm_head`` of it
        against the logits).
        """
        hidden = getattr(output, "hidden_states", None)
        if hidden is not None:
            output.hidden_states = (*hidden[:-1], self.model.model.language_model.norm(hidden[-1]))
        return output

    @contextmanager
    def _deepstack_inputs(self, visual_mask: torch.Tensor, deepstack: list[torch.Tensor]):
        """Hand ``visual_pos_masks`` / ``deepstack_visual_embeds`` to the language model for one call.

        ``Qwen3VLModel.forward`` computes them only from ``pixel_values`` (and passes None
        otherwise), so a pre-hook on the language model puts them in its call.
        """

        def inject(module, args, kwargs):
            if kwargs.get("deepstack_visual_embeds") is not None:
                raise RuntimeError("the model computed DeepStack features itself (pixel_values given with inputs_embeds)")
            return args, {**kwargs, "visual_pos_masks": visual_mask, "deepstack_visual_embeds": deepstack}

        handle = self.model.model.language_model.register_forward_pre_hook(inject, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()

    @property
    def projector(self):
        """The merger into the LM's width and the DeepStack mergers."""
        visual = self.model.model.visual
        return torch.nn.ModuleList([visual.merger, *visual.deepstack_merger_list])
