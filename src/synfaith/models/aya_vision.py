"""Aya Vision (``CohereLabs/aya-vision-8b``): SigLIP vision tower, pixel-shuffle projector, Cohere2 LM.

Layout: ``<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{preamble}<|END_OF_TURN_TOKEN|>
<|START_OF_TURN_TOKEN|><|USER_TOKEN|><|START_OF_IMG|>TILE_1 P…P … TILE_{T} P…P TILE_GLOBAL P…P
<|END_OF_IMG|>{question}<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>`` with
P = ``<|IMG_PATCH|>`` (the image token). GotOcr2 tiling, as InternVL: the image is resized to a
canvas of ``cols × rows`` tiles of S px (real S = 364) closest to its aspect ratio, at most
``max_tiles``, cut row-major, plus a thumbnail (``TILE_GLOBAL``) of the whole image when there
is more than one tile; a single tile is the global view alone. Each view gives (S/14)² SigLIP
patches, pixel-shuffled 2×2 into g×g tokens (real 13×13 = 169), row-major within the view, the
views in prompt order (tiles, then the thumbnail). Visual units = the token cells of the tiles;
the thumbnail's tokens are not units but map onto the cells they cover, and masking a unit also
blends its region in the thumbnail — the mapping of :class:`~synfaith.models.internvl.InternVLAdapter`,
reused here. ``TILE_i`` / ``TILE_GLOBAL`` labels and the image start/end are template tokens.

Cohere2 blocks are *parallel* (attention and MLP both read ``input_layernorm``; there is no
post-attention norm), so :attr:`AyaVisionAdapter.language_layers` shows the CAM explainers each
block's ``input_layernorm`` as the norm they read (the one that feeds the MLP).
"""

from __future__ import annotations

from types import SimpleNamespace

from transformers import AyaVisionForConditionalGeneration, AyaVisionProcessor

from synfaith.models.internvl import PAPER_MAX_TILES, InternVLAdapter
from synfaith.models.processors import image_only_processor

ImageOnlyAyaVisionProcessor = image_only_processor(AyaVisionProcessor, "GotOcr2ImageProcessor", module=__name__)
ImageOnlyAyaVisionProcessor.__doc__ = """``AyaVisionProcessor`` pinned to the slow ``GotOcr2ImageProcessor`` (no torchvision).

The stock class asks ``AutoImageProcessor``, which may pick the fast (torchvision) class.
Tiling is on by default as in the stock processor; saving writes the stock class name.
"""


class _ParallelBlock(SimpleNamespace):
    """A Cohere2 decoder block as the CAM explainers see it: ``post_attention_layernorm`` is its
    ``input_layernorm`` (the norm feeding attention and MLP), the block itself is ``block``."""


class AyaVisionAdapter(InternVLAdapter):
    """Aya Vision as a game: one unit per token cell of each tile (the thumbnail maps onto them).

    Args:
        max_tiles: most tiles per image (2 by default, the paper's InternVL cap; the checkpoint
            allows 12); 1 disables tiling (the global view alone).
    """

    model_types = ("aya_vision",)

    def __init__(self, model, processor, *, max_tiles: int = PAPER_MAX_TILES, **options):
        super().__init__(model, processor, max_tiles=max_tiles, **options)
        ids = self.tokenizer("x")["input_ids"]
        bos_id = self.tokenizer.bos_token_id
        self._tokenizer_adds_bos = bos_id is not None and len(ids) > 0 and ids[0] == bos_id

    @classmethod
    def model_class(cls):
        """``AyaVisionForConditionalGeneration``."""
        return AyaVisionForConditionalGeneration

    @classmethod
    def processor_class(cls):
        """:data:`ImageOnlyAyaVisionProcessor` (the slow GotOcr2 image processor; no torchvision)."""
        return ImageOnlyAyaVisionProcessor

    def render_prompt(self, user_text: str) -> str:
        """The checkpoint's template; its leading ``<BOS_TOKEN>`` dropped when the tokenizer adds
        one itself (as ``apply_chat_template(tokenize=True)`` does: one ``<BOS_TOKEN>``)."""
        prompt = super().render_prompt(user_text)
        bos = self.tokenizer.bos_token
        if self._tokenizer_adds_bos and bos and prompt.startswith(bos):
            prompt = prompt[len(bos) :]
        return prompt

    @property
    def language_layers(self):
        """The Cohere2 decoder blocks, each with its ``input_layernorm`` as ``post_attention_layernorm``."""
        layers = self.model.model.language_model.layers
        return [
            layer if hasattr(layer, "post_attention_layernorm") else _ParallelBlock(block=layer, post_attention_layernorm=layer.input_layernorm)
            for layer in layers
        ]
