"""Gemma 3 (``google/gemma-3-4b-it`` and the other Gemma 3 vision checkpoints).

Layout: ``<bos><start_of_turn>user\\n\\n\\n<start_of_image>`` + S × ``<image_soft_token>`` +
``<end_of_image>\\n\\n{question}<end_of_turn>\\n<start_of_turn>model\\n`` — the chat template writes
``<start_of_image>`` and the processor expands it. ``Gemma3ImageProcessor`` resizes the image to
one square view of side R (896 px in the real model; no crop, aspect ratio not kept) with
pan-and-scan off (the processor's default; crops would add more views and tokens, which this
adapter does not map, so it refuses them). SigLIP cuts the view into patches of P px
(64×64 of 14 px) and the projector average-pools them k×k (4×4) into a g×g grid of image tokens
(16×16 = 256), row-major: token t covers the cell of side R/g px (56 px) at row t // g, column
t % g. Visual unit = pooled token = cell.

The image tokens attend to each other bidirectionally (``token_type_ids`` = 1 at the image
tokens in the model's forward), everything else causally; calls with ``inputs_embeds`` pass
the same ``token_type_ids`` through :meth:`Gemma3Adapter.language_model_inputs`. The prompt
before the first query token (image included) still never attends to later tokens, so prefix
sharing applies.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Gemma3ForConditionalGeneration, Gemma3Processor

from synfaith.models.base import VLMAdapter
from synfaith.models.processors import image_only_processor
from synfaith.models.prompts import PromptLayoutError

__all__ = ["Gemma3Adapter", "ImageOnlyGemma3Processor"]

ImageOnlyGemma3Processor = image_only_processor(Gemma3Processor, "Gemma3ImageProcessor", module=__name__)
ImageOnlyGemma3Processor.__doc__ = """``Gemma3Processor`` pinned to the slow ``Gemma3ImageProcessor`` (numpy/PIL).

The stock class asks ``AutoImageProcessor``, which may pick the torchvision-backed fast class;
this one preprocesses identically on machines with and without torchvision.
"""


class Gemma3Adapter(VLMAdapter):
    """Gemma 3 as a game: one unit per pooled image token (a 56 px cell of the 896 px view).

    The resolution is the checkpoint's own single square view (896 px, 256 tokens);
    pan-and-scan stays off, as in the stock processor.
    """

    model_types = ("gemma3",)

    @classmethod
    def model_class(cls):
        return Gemma3ForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyGemma3Processor

    def image_processor_kwargs(self):
        # one view: the crops of pan-and-scan would be further views this adapter does not map
        return {"do_pan_and_scan": False}

    def render_prompt(self, user_text: str) -> str:
        """The Gemma chat template, less its leading ``<bos>``, which the tokenizer adds (as the
        processor's own ``apply_chat_template(tokenize=True)`` keeps a single ``<bos>``)."""
        prompt = super().render_prompt(user_text)
        bos = self.tokenizer.bos_token
        return prompt[len(bos) :] if bos and prompt.startswith(bos) else prompt

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        n_views, _, height, width = pixel_values.shape
        g = int(round(int(self.model.config.mm_tokens_per_image) ** 0.5))
        if n_views != 1 or height != width or g * g != n_visual_tokens or height % g:
            raise PromptLayoutError(
                f"{n_views} pixel view(s) of {height}×{width} px and {n_visual_tokens} image tokens do not fit one square "
                f"view pooled to a {g}×{g} grid (pan-and-scan must stay off)"
            )
        cell = height // g
        coords = torch.arange(height) // cell
        unit_index = (coords[:, None] * g + coords[None, :])[None, None]
        return unit_index, g * g, np.arange(g * g).reshape(g, g), torch.eye(g * g)

    def image_features(self, pixel_values, n_variants, image_inputs):
        features = self.model.get_image_features(pixel_values)
        return features.reshape(n_variants, -1, features.shape[-1])

    def image_inputs_for(self, prepared, length):
        """The processor's ``token_type_ids`` (prompt-long) extended with 0s (text) to ``length``
        tokens, as generation extends them over the tokens it appends."""
        inputs = dict(prepared.image_inputs)
        types = inputs.get("token_type_ids")
        if types is not None and types.shape[-1] < length:
            inputs["token_type_ids"] = torch.nn.functional.pad(types, (0, length - types.shape[-1]), value=0)
        return inputs

    def language_model_inputs(self, input_ids, image_inputs):
        # 1 at the image tokens: the model lets them attend to each other bidirectionally
        return {"token_type_ids": (input_ids == self.image_token_id).long()}
