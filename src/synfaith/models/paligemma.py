"""PaliGemma and PaliGemma 2 (``google/paligemma2-3b-mix-224`` and the other mix / pt checkpoints).

Layout: ``<image>`` × S + ``<bos>answer en {question}\\n`` — no chat template; the processor
writes the image tokens, ``<bos>`` and the final ``\\n`` around the text it is given. The task
prefix ``answer en `` is how the mix checkpoints are asked a question (their VQA task); the
answer follows the ``\\n`` with no further cue. ``SiglipImageProcessor`` resizes the image to
one R×R view (224 px for the -224 checkpoints; no crop, aspect ratio not kept); SigLIP cuts it
into patches of P px (14 px) and every patch is one image token: a g×g grid (16×16 = 256),
row-major, token t at cell (t // g, t % g). Visual unit = patch = image token.

PaliGemma is a prefix-LM: at inference every prompt token (image, ``<bos>``, the text and the
``\\n``) attends to every other prompt token, and each token after the prompt (the generated
prefix and the answer) attends to the whole prompt and causally to the tokens after it. The
game and the white-box path build exactly that mask for their teacher-forced sequences
(:meth:`PaliGemmaAdapter.model_forward`); the model's own forward builds it when given
``token_type_ids`` and ``labels`` (its fine-tuning mode, :meth:`PaliGemmaAdapter.image_inputs_for`).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import PaliGemmaForConditionalGeneration, PaliGemmaProcessor

from synfaith.models.base import VLMAdapter
from synfaith.models.processors import image_only_processor
from synfaith.models.prompts import PromptLayoutError

__all__ = ["MIX_TASK_PREFIX", "ImageOnlyPaliGemmaProcessor", "PaliGemmaAdapter", "prefix_lm_mask"]

MIX_TASK_PREFIX = "answer en "

ImageOnlyPaliGemmaProcessor = image_only_processor(PaliGemmaProcessor, "SiglipImageProcessor", module=__name__)
ImageOnlyPaliGemmaProcessor.__doc__ = """``PaliGemmaProcessor`` pinned to the slow ``SiglipImageProcessor`` (numpy/PIL).

The stock class may pick the torchvision-backed ``SiglipImageProcessorFast``; this one
preprocesses identically on machines with and without torchvision.
"""


def prefix_lm_mask(n_prompt: int, length: int, batch: int, dtype: torch.dtype, device) -> torch.Tensor:
    """PaliGemma's inference attention as an additive mask [batch, 1, length, length].

    Query q sees key k when k is a prompt token (k < ``n_prompt``) or k ≤ q; other entries hold the
    dtype's minimum, as the model's own 4-D masks do.
    """
    keys = torch.arange(length, device=device)
    allowed = (keys[None, :] < n_prompt) | (keys[None, :] <= keys[:, None])
    mask = torch.zeros((length, length), dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask[None, None].expand(batch, 1, length, length)


class PaliGemmaAdapter(VLMAdapter):
    """PaliGemma as a game: one unit per SigLIP patch of the single square view.

    Args:
        task_prefix: text before the question (``"answer en "``, the mix checkpoints' VQA task;
            ``""`` for pt checkpoints). It is not part of the query units.
    """

    model_types = ("paligemma",)
    # prefix-LM: the image tokens attend to the query tokens after them, so the keys and values
    # of the prompt before the query depend on the query and cannot be shared across coalitions
    prefix_sharing_applies = False

    def __init__(self, model, processor, *, task_prefix: str = MIX_TASK_PREFIX, **options):
        self.task_prefix = task_prefix
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        return PaliGemmaForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyPaliGemmaProcessor

    def image_processor_kwargs(self):
        return {}  # one fixed view: the checkpoint's own resolution (224, 448 or 896 px)

    @property
    def _image_and_bos(self) -> str:
        return self.processor.image_token + self.tokenizer.bos_token

    def render_prompt(self, user_text: str) -> str:
        """``<image><bos>{task_prefix}{user_text}\\n``: the model's prompt, the image placeholder unexpanded."""
        return f"{self._image_and_bos}{self.task_prefix}{user_text}\n"

    def processor_text(self, prompt: str) -> str:
        """``<image>{task_prefix}{user_text}``: the processor adds ``<bos>`` after the image tokens and the ``\\n``."""
        head = self._image_and_bos
        if not (prompt.startswith(head) and prompt.endswith("\n")):
            raise PromptLayoutError(f"a PaliGemma prompt starts with {head!r} and ends with a newline, got {prompt!r}")
        return self.processor.image_token + prompt[len(head) : -1]

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        n_views, _, height, width = pixel_values.shape
        patch = int(self.model.config.vision_config.patch_size)
        g = height // patch
        if n_views != 1 or height != width or height % patch or g * g != n_visual_tokens:
            raise PromptLayoutError(
                f"{n_views} view(s) of {height}×{width} px in {patch} px patches do not give the prompt's {n_visual_tokens} image tokens"
            )
        coords = torch.arange(height) // patch
        unit_index = (coords[:, None] * g + coords[None, :])[None, None]
        return unit_index, g * g, np.arange(g * g).reshape(g, g), torch.eye(g * g)

    def image_features(self, pixel_values, n_variants, image_inputs):
        features = self.model.get_image_features(pixel_values)
        return features.reshape(n_variants, -1, features.shape[-1])

    def model_forward(self, inputs_embeds, prepared, **kwargs):
        """The model on full teacher-forced sequences with the prefix-LM mask (prompt bidirectional,
        the tokens after it causal), as generation attends; the 2-D all-ones mask is replaced."""
        if kwargs.get("past_key_values") is not None:
            raise ValueError("PaliGemma's prompt is bidirectional: its adapter runs whole sequences, without a cache")
        batch, length = inputs_embeds.shape[:2]
        kwargs["attention_mask"] = prefix_lm_mask(
            prepared.layout.input_ids.numel(), length, batch, inputs_embeds.dtype, inputs_embeds.device
        )
        return super().model_forward(inputs_embeds, prepared, **kwargs)

    def image_inputs_for(self, prepared, length):
        """For a sequence longer than the prompt, the inputs of PaliGemma's own prefix-LM mask:
        ``token_type_ids`` 0 on the prompt and 1 after it, and ``labels`` (all −100: nothing is
        scored; the model switches to that mask only when it is given labels, as in fine-tuning)."""
        n_prompt = prepared.layout.input_ids.numel()
        if length <= n_prompt:
            return {}  # the prompt alone: the model attends bidirectionally over it by itself
        token_types = torch.ones((1, length), dtype=torch.long)
        token_types[:, :n_prompt] = 0
        return {"token_type_ids": token_types, "labels": torch.full((1, length), -100, dtype=torch.long)}
