"""Qwen2.5-VL (``Qwen/Qwen2.5-VL-3B-Instruct``).

The image is ``smart_resize``-d to multiples of 28 px within ``[min_pixels, max_pixels]``;
``image_grid_thw = (1, H/14, W/14)`` patches, merged 2×2 into one LM token each. The pixel
rows are in merge-block order: merged token k owns rows 4k..4k+3 of ``pixel_values``, and the
tokens run row-major over the (H/28)×(W/28) grid. Visual unit = merged token. The LM uses
multimodal RoPE, so calls with ``inputs_embeds`` pass ``position_ids`` from ``get_rope_index``.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from synfaith.models.base import VLMAdapter
from synfaith.models.prompts import PromptLayoutError

PAPER_MAX_PIXELS = 313600


def merged_patch_layout(pixel_values: torch.Tensor, grid_thw: torch.Tensor, merge: int, n_visual_tokens: int):
    """The unit layout of one image in flattened patch rows (the Qwen-VL pattern): one unit per
    merged ``merge × merge`` block of the ``image_grid_thw`` grid, token k owning rows
    ``merge²·k … merge²·k + merge² − 1``, row-major (see :meth:`VLMAdapter.unit_layout`)."""
    _, grid_h, grid_w = (int(x) for x in grid_thw[0])
    rows, cols = grid_h // merge, grid_w // merge
    if rows * cols != n_visual_tokens or pixel_values.shape[0] != n_visual_tokens * merge * merge:
        raise PromptLayoutError(
            f"image_grid_thw {(grid_h, grid_w)} with merge {merge} gives {rows * cols} merged tokens but the prompt holds "
            f"{n_visual_tokens} image tokens and pixel_values has {pixel_values.shape[0]} rows"
        )
    unit_index = (torch.arange(pixel_values.shape[0]) // (merge * merge))[:, None]
    return unit_index, rows * cols, np.arange(rows * cols).reshape(rows, cols), torch.eye(rows * cols)


def mrope_position_ids(get_rope_index, input_ids: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """Multimodal RoPE position ids of ``input_ids`` from the model's own ``get_rope_index``."""
    attention_mask = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
    position_ids, _ = get_rope_index(input_ids, grid_thw, None, attention_mask=attention_mask)
    return position_ids


class Qwen25VLAdapter(VLMAdapter):
    """Qwen2.5-VL as a game: one unit per merged 2×2 patch token.

    Args:
        max_pixels: resolution cap of the image processor (the paper's 313600 by default).
        min_pixels: lower bound (None: the checkpoint's own).
    """

    model_types = ("qwen2_5_vl",)

    def __init__(self, model, processor, *, max_pixels: int | None = PAPER_MAX_PIXELS, min_pixels: int | None = None, **options):
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        return Qwen2_5_VLForConditionalGeneration

    @property
    def merge_size(self) -> int:
        return int(self.model.config.vision_config.spatial_merge_size)

    @classmethod
    def processor_class(cls):
        from synfaith.models.processors import ImageOnlyQwen2_5_VLProcessor

        return ImageOnlyQwen2_5_VLProcessor

    def image_processor_kwargs(self):
        kwargs = {}
        if self.max_pixels is not None:
            kwargs["max_pixels"] = self.max_pixels
        if self.min_pixels is not None:
            kwargs["min_pixels"] = self.min_pixels
        return kwargs

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        return merged_patch_layout(pixel_values, image_inputs["image_grid_thw"], self.merge_size, n_visual_tokens)

    def image_features(self, pixel_values, n_variants, image_inputs):
        grid = image_inputs["image_grid_thw"].repeat(n_variants, 1)
        return torch.stack(list(self.model.get_image_features(pixel_values, grid)))

    def language_model_inputs(self, input_ids, image_inputs):
        return {"position_ids": mrope_position_ids(self.model.model.get_rope_index, input_ids, image_inputs["image_grid_thw"])}

    @property
    def vision_tower(self):
        return self.model.model.visual

    @property
    def projector(self):
        return self.model.model.visual.merger
