"""LLaVA-OneVision (``llava-hf/llava-onevision-qwen2-0.5b-ov-hf``): anyres_max_9 tiles + base view.

Layout: ``<|im_start|>user\\n<image>\\n{question}<|im_end|>\\n<|im_start|>assistant\\n`` (Qwen2
LM). The processor picks the best of the checkpoint's 36 grid pinpoints (1–6 × 1–6 tiles of
384 px; capped here, see below), resizes and zero-pads the image into it, cuts it into tiles
and puts the whole image squashed to 384×384 first: ``pixel_values`` is
``[1, 1 + tiles, 3, 384, 384]``. SigLIP (last layer, no CLS) gives 27×27 cells of 14 px per
view (the last 6 px of each view are never seen). The ``<image>`` tokens are: the base view's
729 cells (row-major), then for every row of the unpadded high-res grid its cells and one
``image_newline`` token.

``anyres_max_9``: when the unpadded grid holds more than 1.1² · 9 · 27² cells, the model
bilinearly shrinks it, so its tokens mix neighbouring cells. The default cap, ``max_tiles=4``
(the pinpoints of at most 4 tiles, the budget of LLaVA-NeXT's own pinpoints), keeps every grid
at ≤ 4 · 27² cells, so the shrink never happens and high-res tokens are cells one to one. With
a larger cap the shrink may happen; ``token_units`` then holds each shrunk token's bilinear
weights over the cells it mixes (dense [tokens, units]: large for caps far past 9 tiles).

Visual units = the cells of the unpadded high-res grid (row-major); base tokens map onto the
units whose image region they show and masking a unit blends its region in the tiles and in
the base view; newline tokens own no pixels. Details: :mod:`synfaith.models.anyres`.
"""

from __future__ import annotations

from transformers import LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor

from synfaith.models.anyres import AnyresAdapter
from synfaith.models.processors import image_only_processor

DEFAULT_MAX_TILES = 4

ImageOnlyLlavaOnevisionProcessor = image_only_processor(
    LlavaOnevisionProcessor, "LlavaOnevisionImageProcessor", module=__name__
)
ImageOnlyLlavaOnevisionProcessor.__doc__ = """``LlavaOnevisionProcessor`` without the video processor (no torchvision).

Images only: calling it with ``videos=`` raises. The image processor is the slow
``LlavaOnevisionImageProcessor`` (numpy/PIL).
"""


def max_tiles_per_image(vision_aspect_ratio: str) -> int | None:
    """N of ``"anyres_max_N"`` (None for plain ``"anyres"``: the grid is never shrunk)."""
    if vision_aspect_ratio.startswith("anyres_max_"):
        return int(vision_aspect_ratio[len("anyres_max_") :])
    return None


class LlavaOnevisionAdapter(AnyresAdapter):
    """LLaVA-OneVision as a game: one unit per cell of the unpadded high-res tile grid.

    Args:
        max_tiles: most tiles per image (default 4; None: all 36 pinpoints, up to 6×6 tiles,
            where ``anyres_max_9`` may shrink the grid and tokens mix cells).
    """

    model_types = ("llava_onevision",)
    default_max_tiles = DEFAULT_MAX_TILES

    def __init__(self, model, processor, **options):
        aspect = str(model.config.vision_aspect_ratio)
        if getattr(processor, "vision_aspect_ratio", aspect) != aspect:
            raise ValueError(
                f"the processor's vision_aspect_ratio {processor.vision_aspect_ratio!r} differs from the model's {aspect!r}"
            )
        self.max_tiles_per_image = max_tiles_per_image(aspect)
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        return LlavaOnevisionForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyLlavaOnevisionProcessor
