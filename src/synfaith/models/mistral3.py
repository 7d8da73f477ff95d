"""Mistral Small 3.1 (``mistralai/Mistral-Small-3.1-24B-Instruct-2503``): Pixtral vision tower + Mistral LM.

Layout: ``<s>[SYSTEM_PROMPT]{system prompt}[/SYSTEM_PROMPT][INST][IMG]…[IMG_END]{question}[/INST]``
(the checkpoint's template always writes a system prompt; its default one holds the date, which
the adapter pins, see ``prompt_date``). The Pixtral image processor shrinks the image so its
longest edge is at most ``longest_edge`` (never enlarges it) and rounds each side *up* to a
multiple of patch × merge = 14 × 2 = 28 px: one [1, 3, H, W] tensor. The vision tower cuts 14 px
patches and the patch merger folds each 2×2 block of patches into one token, so the image gives
an R×C grid of merged tokens (R = H/28, C = W/28), row-major (``unfold`` order). The prompt holds
them row by row: C ``[IMG]`` tokens then ``[IMG_BREAK]`` per row, the last break replaced by
``[IMG_END]``. Visual unit = merged token = the k-th ``[IMG]`` token, grid cell (k // C, k % C),
the 28×28 px block at (28·(k // C), 28·(k % C)) of the resized image; ``[IMG_BREAK]`` and
``[IMG_END]`` are template tokens, not units.

The Pixtral tower runs a batch of images as *one* sequence with a block-diagonal attention
mask (cost quadratic in the number of images), so :meth:`Mistral3Adapter.image_features` runs
it one image at a time: the same values, linear cost.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import torch
from transformers import Mistral3ForConditionalGeneration, PixtralProcessor

from synfaith.models.base import VLMAdapter
from synfaith.models.processors import image_only_processor
from synfaith.models.prompts import PromptLayoutError

# 560 px: at most 20×20 = 400 merged tokens, the paper's Qwen2.5-VL cap (max_pixels 313600 = 560²)
DEFAULT_LONGEST_EDGE = 560
# the checkpoint's release date: its default system prompt says "The current date is …"
DEFAULT_PROMPT_DATE = "2025-03-17"

ImageOnlyPixtralProcessor = image_only_processor(PixtralProcessor, "PixtralImageProcessor", module=__name__)
ImageOnlyPixtralProcessor.__doc__ = """``PixtralProcessor`` pinned to the slow ``PixtralImageProcessor`` (no torchvision).

The stock class asks ``AutoImageProcessor``, which may pick the fast (torchvision) class; this
one keeps preprocessing identical on every machine. Saving writes the stock class name.
"""


class Mistral3Adapter(VLMAdapter):
    """Mistral Small 3.1 as a game: one unit per merged 2×2 patch token (``[IMG]``).

    Args:
        longest_edge: resolution cap of the image processor, px (560 by default; the checkpoint's
            own is 1540). Images with a longer edge are shrunk, smaller ones are not enlarged.
        prompt_date: the date the default system prompt states (``YYYY-MM-DD``, the release
            date by default) so that prompts do not change from day to day; None: today's, as
            the checkpoint's template does.
    """

    model_types = ("mistral3",)

    def __init__(
        self,
        model,
        processor,
        *,
        longest_edge: int = DEFAULT_LONGEST_EDGE,
        prompt_date: str | None = DEFAULT_PROMPT_DATE,
        **options,
    ):
        self.token_px = int(processor.patch_size) * int(processor.spatial_merge_size)
        vision = model.config.vision_config
        expected = int(vision.patch_size) * int(model.config.spatial_merge_size)
        if self.token_px != expected:
            raise ValueError(
                f"the processor's patch {processor.patch_size} × merge {processor.spatial_merge_size} = {self.token_px} px "
                f"disagrees with the model's {vision.patch_size} × {model.config.spatial_merge_size} = {expected} px"
            )
        longest = int(longest_edge)
        rounded = math.ceil(longest / self.token_px) * self.token_px
        if longest < self.token_px or rounded > int(vision.image_size):
            raise ValueError(
                f"longest_edge must lie in [{self.token_px}, {vision.image_size}] px (the vision tower's largest image), got {longest_edge}"
            )
        self.longest_edge = longest
        self.prompt_date = None if prompt_date is None else datetime.datetime.fromisoformat(str(prompt_date))
        super().__init__(model, processor, **options)
        ids = self.tokenizer("x")["input_ids"]
        bos_id = self.tokenizer.bos_token_id
        self._tokenizer_adds_bos = bos_id is not None and len(ids) > 0 and ids[0] == bos_id

    @classmethod
    def model_class(cls):
        """``Mistral3ForConditionalGeneration``."""
        return Mistral3ForConditionalGeneration

    @classmethod
    def processor_class(cls):
        """:data:`ImageOnlyPixtralProcessor` (the slow image processor; no torchvision)."""
        return ImageOnlyPixtralProcessor

    def image_processor_kwargs(self):
        """The resolution cap: ``size={"longest_edge": longest_edge}``."""
        return {"size": {"longest_edge": self.longest_edge}}

    def pixel_tensor(self, image):
        """The pixel tensor for one image, resized to multiples of patch × merge as the processor does."""
        out = self.processor.image_processor(
            images=image, return_tensors="pt", patch_size=self.token_px, **self.image_processor_kwargs()
        )
        return out["pixel_values"]

    def render_prompt(self, user_text: str) -> str:
        """The checkpoint's template with the date pinned; its leading ``<s>`` dropped when the
        tokenizer adds one itself (as ``apply_chat_template(tokenize=True)`` does: one ``<s>``)."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]}]
        extra = {}
        if self.prompt_date is not None:
            date = self.prompt_date
            extra["strftime_now"] = lambda fmt: date.strftime(fmt)
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra)
        bos = self.tokenizer.bos_token
        if self._tokenizer_adds_bos and bos and prompt.startswith(bos):
            prompt = prompt[len(bos) :]
        return prompt

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        """One unit per 28×28 px block of the resized image, row-major = the order of the ``[IMG]`` tokens."""
        height, width = (int(x) for x in image_inputs["image_sizes"][0])
        px = self.token_px
        rows, cols = height // px, width // px
        if (
            height % px
            or width % px
            or rows * cols != n_visual_tokens
            or tuple(pixel_values.shape[-2:]) != (height, width)
        ):
            raise PromptLayoutError(
                f"the {height}×{width} image gives {rows}×{cols} merged tokens of {px} px but the prompt holds "
                f"{n_visual_tokens} [IMG] tokens and pixel_values is {tuple(pixel_values.shape)}"
            )
        y = torch.arange(height) // px
        x = torch.arange(width) // px
        unit_index = (y[:, None] * cols + x[None, :])[None, None]
        n_units = rows * cols
        return unit_index, n_units, np.arange(n_units).reshape(rows, cols), torch.eye(n_units)

    def image_features(self, pixel_values, n_variants, image_inputs):
        """Projected merged-token features [U, v, d], the vision tower run one image at a time."""
        sizes = image_inputs["image_sizes"]
        per_image = pixel_values.shape[0] // n_variants
        features = [
            torch.cat(self.model.get_image_features(pixel_values[i * per_image : (i + 1) * per_image], image_sizes=sizes))
            for i in range(n_variants)
        ]
        return torch.stack(features)
