"""LLaVA-NeXT / LLaVA-1.6 (``llava-hf/llava-v1.6-mistral-7b-hf``): anyres tiles + base view.

Layout: ``<s>[INST] <image>\\n{question} [/INST]`` (the Mistral template). The processor picks
the best of the checkpoint's ``image_grid_pinpoints`` (real: 336×672, 672×336, 672×672,
1008×336, 336×1008 — at most 4 tiles of 336 px), resizes and zero-pads the image into it, cuts
it into tiles and puts the whole image squashed to 336×336 first: ``pixel_values`` is
``[1, 1 + tiles, 3, 336, 336]``. CLIP (penultimate layer, CLS dropped) gives 24×24 cells of
14 px per view. The ``<image>`` tokens are: the base view's 576 cells (row-major), then for
every row of the unpadded high-res grid (``rows·24 × cols·24`` cells less the padding rows or
columns) its cells and one ``image_newline`` token.

Visual units = the cells of the unpadded high-res grid (row-major): a high-res token is its
unit; base tokens map onto the units whose image region they show (``token_units``, fractions
of their pixels) and masking a unit blends its region in the tiles and in the base view;
newline tokens own no pixels (zero rows). Details: :mod:`synfaith.models.anyres`.
"""

from __future__ import annotations

from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

from synfaith.models.anyres import AnyresAdapter
from synfaith.models.processors import _restore_stock_processor_class


class ImageOnlyLlavaNextProcessor(LlavaNextProcessor):
    """``LlavaNextProcessor`` pinned to the slow ``LlavaNextImageProcessor`` (numpy/PIL, no torchvision).

    The stock class has no video processor; pinning the slow image processor only makes
    preprocessing identical with and without torchvision. Saving writes the stock class name.
    """

    image_processor_class = "LlavaNextImageProcessor"

    def save_pretrained(self, save_directory, *args, **kwargs):
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "LlavaNextProcessor")
        return out


class LlavaNextAdapter(AnyresAdapter):
    """LLaVA-NeXT as a game: one unit per cell of the unpadded high-res tile grid.

    Args:
        max_tiles: most tiles per image; None (default) keeps the checkpoint's own pinpoints
            (at most 4 tiles of 336 px for llava-v1.6, i.e. ≤ 2304 units).
    """

    model_types = ("llava_next",)

    @classmethod
    def model_class(cls):
        return LlavaNextForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyLlavaNextProcessor
