"""Qwen2-VL (``Qwen/Qwen2-VL-2B-Instruct`` and the other Qwen2-VL-Instruct checkpoints).

Token layout: ``<|im_start|>system\\n…<|im_end|>\\n<|im_start|>user\\n<|vision_start|>``
``<|image_pad|>×N<|vision_end|>{question}<|im_end|>\\n<|im_start|>assistant\\n``. The image is
``smart_resize``-d to multiples of 28 px within ``[min_pixels, max_pixels]``;
``image_grid_thw = (1, H/14, W/14)`` patches of 14 px (a still image fills both frames of the
temporal patch of 2), merged 2×2 by the vision merger into N = (H/28)(W/28) LM tokens. The
pixel rows are in merge-block order: merged token k owns rows 4k..4k+3 of ``pixel_values``,
and the tokens run row-major over the (H/28)×(W/28) grid. Visual unit = merged token k =
grid cell (k // (W/28), k % (W/28)), a 28×28 px square of the resized image.

The mechanics are Qwen2.5-VL's (:class:`~synfaith.models.qwen2_5_vl.Qwen25VLAdapter`); what
differs is the model class and the vision tower — full attention in every block (no window
attention) and a merger straight into the LM — and this processor class. The LM uses
multimodal RoPE, so calls with ``inputs_embeds`` pass ``position_ids`` from ``get_rope_index``.
"""

from __future__ import annotations

from transformers import Qwen2VLForConditionalGeneration, Qwen2VLProcessor

from synfaith.models.processors import image_only_processor
from synfaith.models.qwen2_5_vl import Qwen25VLAdapter

__all__ = ["ImageOnlyQwen2VLProcessor", "Qwen2VLAdapter"]

ImageOnlyQwen2VLProcessor = image_only_processor(Qwen2VLProcessor, "Qwen2VLImageProcessor", module=__name__)
ImageOnlyQwen2VLProcessor.__doc__ = """``Qwen2VLProcessor`` without the video processor (no torchvision).

Images only: calling it with ``videos=`` raises. The image processor is the slow
``Qwen2VLImageProcessor`` (``min_pixels`` / ``max_pixels`` may be passed in the call).
"""


class Qwen2VLAdapter(Qwen25VLAdapter):
    """Qwen2-VL as a game: one unit per merged 2×2 patch token.

    Args (those of :class:`Qwen25VLAdapter`):
        max_pixels: resolution cap of the image processor; by default the paper's Qwen2.5-VL
            cap, 313600 px (at most 400 merged tokens, e.g. 560×560), instead of the
            checkpoint's 12845056.
        min_pixels: lower bound (None: the checkpoint's own, 3136).
    """

    model_types = ("qwen2_vl",)

    @classmethod
    def model_class(cls):
        return Qwen2VLForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyQwen2VLProcessor
