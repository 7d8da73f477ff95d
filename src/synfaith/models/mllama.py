"""Llama-3.2-Vision (``meta-llama/Llama-3.2-11B-Vision-Instruct``, ``model_type`` mllama): cross-attention.

Layout: ``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n<|image|>{question}<|eot_id|>
<|start_header_id|>assistant<|end_header_id|>\\n\\n``. The prompt holds one ``<|image|>`` token and
**no image tokens**: the language model cross-attends to the vision states in its
cross-attention layers (real: 8 of 40), so ``layout.visual_positions`` is empty and the text
units are the question's tokens only.

Pixels: the image is resized into the best canvas of ``rows × cols`` tiles of S px (at most
``max_image_tiles``, real 4 tiles of 560 px), zero-padded and cut row-major into tiles; the
tensor is ``[1, 1, T, 3, S, S]`` with T = the model's ``max_num_tiles`` (tiles past the image's
own are zero padding tiles). Each tile is g×g patches of P px (real 40×40 of 14 px) plus a class
token; the LM cross-attends to ``T · (g² + 1)`` states, the padding tiles' masked out by the
``cross_attention_mask``. Visual units = the patch cells of the image's tiles, tile by tile,
row-major within a tile: unit ``t·g² + (y//P)·g + x//P`` owns pixel (y, x) of tile t in every
channel (canvas padding inside a tile included — identical in the clean and blurred tensors);
padding tiles belong to no unit. ``token_units`` has one row per cross-attention state: a
patch state is its cell, a tile's class state covers the tile's cells evenly.

White-box access: the "merged embeddings" are the token embeddings followed by the projected
cross-attention states (``[B, L + T·(g²+1), d]``), so gradients with respect to them reach both
the query tokens and the states the image enters through; :meth:`model_forward` splits them
off into ``cross_attention_states``. Prefix sharing caches the cross-attention keys and values
with the prefix (one row per distinct image mask), which is exact.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import MllamaForConditionalGeneration, MllamaProcessor
from transformers.models.mllama.image_processing_mllama import get_all_supported_aspect_ratios

from synfaith.contracts import GAME, WHITE_BOX
from synfaith.models.base import VLMAdapter
from synfaith.models.processors import _restore_stock_processor_class
from synfaith.models.prompts import PromptLayoutError

REAL_MAX_IMAGE_TILES = 4  # Llama-3.2-11B-Vision(-Instruct): 4 tiles of 560 px


def _repack_tiles(features, cap: int, max_tiles: int):
    """Processor outputs made with ``max_image_tiles=cap`` in the model's own ``max_tiles`` layout.

    The vision model takes exactly its ``max_num_tiles`` tiles and aspect-ratio ids over that
    many tiles' ratios, so a lower cap only limits the canvas: the tiles are zero-padded to
    ``max_tiles``, the aspect-ratio mask padded with 0 and the ids re-indexed.
    """
    if cap == max_tiles or "pixel_values" not in features:
        return features
    pixels = torch.as_tensor(features["pixel_values"])
    pad = torch.zeros(*pixels.shape[:2], max_tiles - pixels.shape[2], *pixels.shape[3:], dtype=pixels.dtype)
    features["pixel_values"] = torch.cat([pixels, pad], dim=2)
    mask = torch.as_tensor(features["aspect_ratio_mask"])
    features["aspect_ratio_mask"] = torch.cat([mask, torch.zeros(*mask.shape[:2], max_tiles - cap, dtype=mask.dtype)], dim=2)
    capped, full = get_all_supported_aspect_ratios(cap), get_all_supported_aspect_ratios(max_tiles)
    ids = torch.as_tensor(features["aspect_ratio_ids"])
    features["aspect_ratio_ids"] = ids.apply_(lambda i: 0 if i == 0 else full.index(capped[i - 1]) + 1)
    return features


class MllamaTiledProcessor(MllamaProcessor):
    """``MllamaProcessor`` whose ``max_image_tiles`` may be below the model's tile count.

    The stock processor pads the tiles to the ``max_image_tiles`` of the call, which the vision
    model only takes when it equals its ``max_num_tiles`` (the image processor's own
    ``max_image_tiles``); here a lower cap limits the canvas and the outputs keep the model's
    layout (:func:`_repack_tiles`). A prompt that already starts with ``<|begin_of_text|>`` (the
    chat template writes it) is tokenized without adding it again, as the model card's
    ``add_special_tokens=False`` does. Saving writes the stock class name.
    """

    def __call__(self, images=None, text=None, max_image_tiles: int | None = None, **kwargs):
        max_tiles = int(self.image_processor.max_image_tiles)
        cap = max_tiles if max_image_tiles is None else int(max_image_tiles)
        if not 1 <= cap <= max_tiles:
            raise ValueError(f"max_image_tiles must be between 1 and the model's {max_tiles}, got {cap}")
        texts = [text] if isinstance(text, str) else list(text or [])
        if texts and all(t.startswith(self.bos_token) for t in texts):
            kwargs.setdefault("add_special_tokens", False)
        features = super().__call__(images=images, text=text, max_image_tiles=cap, **kwargs)
        return _repack_tiles(features, cap, max_tiles)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as the stock ``MllamaProcessor`` (the directory keeps looking like the real checkpoint)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "MllamaProcessor")
        return out


class MllamaAdapter(VLMAdapter):
    """Llama-3.2-Vision as a game: one unit per 14-px patch cell of each of the image's tiles.

    Args:
        max_image_tiles: most tiles per image (the real 4 by default, at most the model's
            ``max_num_tiles``); 1 gives one tile of the whole image.
    """

    model_types = ("mllama",)
    # no IMAGE_TOKENS: the image is not in the LM's sequence, so there are no hidden states at
    # image positions (TAM, GradCAM, LLaVA-CAM, AttnLRP read those); no ATTENTION: the
    # self-attention runs over text tokens only (Rollout / GradRollout read it over image tokens)
    capabilities = frozenset({GAME, WHITE_BOX})

    def __init__(self, model, processor, *, max_image_tiles: int = REAL_MAX_IMAGE_TILES, **options):
        max_tiles = int(model.config.vision_config.max_num_tiles)
        if not 1 <= max_image_tiles <= max_tiles:
            raise ValueError(f"max_image_tiles must be between 1 and the model's max_num_tiles {max_tiles}, got {max_image_tiles}")
        self.max_image_tiles = int(max_image_tiles)
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        """``MllamaForConditionalGeneration``."""
        return MllamaForConditionalGeneration

    @classmethod
    def processor_class(cls):
        """:class:`MllamaTiledProcessor` (the stock processor; a lower tile cap keeps the model's layout)."""
        return MllamaTiledProcessor

    def _image_token_id(self) -> int:
        # the one <|image|> token only marks where cross-attention starts (a template token with
        # its own embedding, no image content): the sequence holds no image tokens
        return -1

    @property
    def vision_tower(self):
        """The vision encoder (``model.model.vision_model``: local and global transformers)."""
        return self.model.model.vision_model

    @property
    def patches_per_tile(self) -> int:
        """Cross-attention states per tile: the g² patches and the class token."""
        return int(self.model.model.vision_model.num_patches)

    def image_processor_kwargs(self):
        """The tile cap: ``{"max_image_tiles": …}``."""
        return {"max_image_tiles": self.max_image_tiles}

    def pixel_tensor(self, image):
        """The processor's ``[1, 1, T, 3, S, S]`` tiles of one image (capped, in the model's layout)."""
        return self.processor(images=image, return_tensors="pt", **self.image_processor_kwargs())["pixel_values"]

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        """Units = patch cells of the image's tiles; ``token_units`` maps the cross-attention states."""
        *_, n_tiles, _, tile, width = pixel_values.shape
        patch = int(self.model.config.vision_config.patch_size)
        g = tile // patch
        valid = int(image_inputs["aspect_ratio_mask"][0, 0].sum())
        ratio_id = int(image_inputs["aspect_ratio_ids"][0, 0])
        rows, cols = get_all_supported_aspect_ratios(n_tiles)[ratio_id - 1]
        if n_visual_tokens or tile != width or tile % patch or rows * cols != valid or g * g + 1 != self.patches_per_tile:
            raise PromptLayoutError(
                f"{n_visual_tokens} image tokens, {n_tiles} tiles of {tile}×{width} px ({valid} valid, canvas "
                f"{rows}×{cols}) and patches of {patch} px do not fit mllama's cross-attention layout"
            )
        per_tile = g * g
        coords = torch.arange(tile) // patch
        cells = coords[:, None] * g + coords[None, :]  # [S, S]
        unit_index = torch.full((n_tiles, tile, tile), -1, dtype=torch.long)
        for t in range(valid):
            unit_index[t] = t * per_tile + cells
        n_units = valid * per_tile
        grid = np.zeros((rows * g, cols * g), dtype=np.int64)
        for t in range(valid):
            r, c = divmod(t, cols)
            grid[r * g : (r + 1) * g, c * g : (c + 1) * g] = t * per_tile + np.arange(per_tile).reshape(g, g)
        # token_units: one row per cross-attention state (tile by tile: the class token, then the
        # g² patches); a patch is its cell, a class token covers its tile, padding tiles nothing
        token_units = torch.zeros(n_tiles * (per_tile + 1), n_units)
        for t in range(valid):
            row, units = t * (per_tile + 1), slice(t * per_tile, (t + 1) * per_tile)
            token_units[row, units] = 1.0 / per_tile
            token_units[row + 1 : row + 1 + per_tile, units] = torch.eye(per_tile)
        return unit_index[None, None, :, None], n_units, grid, token_units

    def image_features(self, pixel_values, n_variants, image_inputs):
        """The projected cross-attention states of ``n_variants`` images: [U, T·(g²+1), d]."""
        ids = image_inputs["aspect_ratio_ids"].repeat(n_variants, 1)
        mask = image_inputs["aspect_ratio_mask"].repeat(n_variants, 1, 1)
        vision = self.model.model.vision_model(pixel_values=pixel_values, aspect_ratio_ids=ids, aspect_ratio_mask=mask)
        states = self.model.model.multi_modal_projector(vision.last_hidden_state)
        return states.reshape(n_variants, -1, states.shape[-1])

    @staticmethod
    def write_image_features(token_embeds, image_features, prepared):
        """The token embeddings [B, L, d] followed by the cross-attention states [B, V, d]: [B, L + V, d]."""
        return torch.cat([token_embeds, image_features.to(token_embeds.dtype)], dim=1)

    def image_inputs_for(self, prepared, length):
        """The image inputs with the ``cross_attention_mask`` extended to ``length`` tokens (its last row repeated)."""
        inputs = dict(prepared.image_inputs)
        inputs["cross_attention_mask"] = _extended(inputs["cross_attention_mask"], length)
        return inputs

    def language_model_inputs(self, input_ids, image_inputs):
        """The ``cross_attention_mask`` for ``input_ids``' length (who cross-attends to which tile)."""
        return {"cross_attention_mask": _extended(image_inputs["cross_attention_mask"], input_ids.shape[1]).to(input_ids.device)}

    def model_forward(self, inputs_embeds, prepared, **kwargs):
        """The model on token embeddings, with the cross-attention states that follow them split off.

        The tokens are the ``attention_mask``'s positions past the cache; rows after them are the
        states :meth:`write_image_features` appended. Without states (the suffix of prefix
        sharing) the cross-attention layers read their keys and values from the cache.
        """
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length() if cache is not None else 0
        mask = kwargs.get("attention_mask")
        n_tokens = mask.shape[1] - past if mask is not None else inputs_embeds.shape[1] - self._n_states(prepared)
        if inputs_embeds.shape[1] > n_tokens:
            kwargs["cross_attention_states"] = inputs_embeds[:, n_tokens:]
        return self.model(inputs_embeds=inputs_embeds[:, :n_tokens], **kwargs)

    def _n_states(self, prepared) -> int:
        return int(prepared.pixels.clean.shape[2]) * self.patches_per_tile


def _extended(cross_attention_mask: torch.Tensor, length: int) -> torch.Tensor:
    """``cross_attention_mask`` [B, L0, I, T] cut or extended to ``length`` tokens (later tokens see what the last one sees)."""
    n = cross_attention_mask.shape[1]
    if length <= n:
        return cross_attention_mask[:, :length]
    tail = cross_attention_mask[:, -1:].expand(-1, length - n, *cross_attention_mask.shape[2:])
    return torch.cat([cross_attention_mask, tail], dim=1)
