"""LLaVA-1.5 (``llava-hf/llava-1.5-7b-hf``) and the embedded toy VLM, which shares its classes.

Layout: ``USER: <image>\\n{question} ASSISTANT:``; the CLIP processor resizes the shortest
edge and centre-crops to a square of side S; the vision tower cuts it into patches of P px,
and (with the "default" feature strategy) each patch is one image token: a (S/P)×(S/P) grid,
token k at cell (k // g, k % g). Visual unit = patch = image token.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LlavaForConditionalGeneration

from synfaith.models.base import VLMAdapter
from synfaith.models.prompts import PromptLayoutError


class LlavaAdapter(VLMAdapter):
    """LLaVA-1.5 as a game: one unit per CLIP patch of the centre crop."""

    model_types = ("llava",)
    default_answer_cue = "Answer:"

    @classmethod
    def model_class(cls):
        return LlavaForConditionalGeneration

    @classmethod
    def processor_class(cls):
        from synfaith.models.processors import ImageOnlyLlavaProcessor

        return ImageOnlyLlavaProcessor

    def image_processor_kwargs(self):
        return {}

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        _, _, height, width = pixel_values.shape
        patch = int(self.model.config.vision_config.patch_size)
        rows, cols = height // patch, width // patch
        if rows * cols != n_visual_tokens:
            raise PromptLayoutError(
                f"the prompt holds {n_visual_tokens} image tokens but the {height}×{width} crop has "
                f"{rows}×{cols} patches of {patch} px; check vision_feature_select_strategy"
            )
        y = torch.arange(height) // patch
        x = torch.arange(width) // patch
        unit_index = (y[:, None] * cols + x[None, :])[None, None]
        return unit_index, rows * cols, np.arange(rows * cols).reshape(rows, cols), torch.eye(rows * cols)

    def image_features(self, pixel_values, n_variants, image_inputs):
        return torch.stack(list(self.model.get_image_features(pixel_values=pixel_values)))
