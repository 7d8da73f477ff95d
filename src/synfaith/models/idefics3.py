"""Idefics3 (``HuggingFaceM4/Idefics3-8B-Llama3``); SmolVLM (:mod:`synfaith.models.smolvlm`) shares it.

Layout: ``<|begin_of_text|>User:<image>{question}<end_of_utterance>\\nAssistant:``, the image
placeholder expanded by the processor into one block per tile, row-major, then the global image:
``<fake_token_around_image><row_i_col_j><image>×k`` per tile (a newline after each row of tiles),
``\\n<fake_token_around_image><global-img><image>×k<fake_token_around_image>`` for the global image.

Geometry: the image's longest edge is resized to ``size["longest_edge"]`` = N·S (the adapter's
``longest_edge_tiles`` N; real S = 364), both sides are rounded up to multiples of S, the canvas is
cut row-major into ``rows × cols`` tiles of S px and the whole canvas is resized to S×S as the
global image (the last view). A canvas of one tile is not split: its only view is the image itself
and the prompt holds the global block alone (as with ``image_splitting=False``, which resizes the
image to S×S). ``pixel_values`` is [1, n_views, 3, S, S] with a ``pixel_attention_mask``.

Each view's (S/P)² patches are pixel-shuffled by ``scale_factor`` s (``Idefics3Connector.
pixel_shuffle``) into g×g tokens, g = (S/P)/s (real 26/2 = 13, 169 per tile): token k of a view
is the cell (k // g, k % g) of s×s patches, row-major. Pixels right of or below the last whole
patch (S mod P, e.g. SmolVLM's 384 = 27·14 + 6) are never seen by the vision tower.

Visual units = the token cells of the tiles (of the only view when unsplit). The global image's
tokens are not units: they map through ``token_units`` onto the cells they cover, and masking a
unit also blends its region in the global image. Unseen and padded pixels belong to no unit (-1).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from PIL import Image
from transformers import Idefics3ForConditionalGeneration, Idefics3Processor

from synfaith.models.base import VLMAdapter
from synfaith.models.pixels import NO_UNIT, cell_coverage
from synfaith.models.processors import image_only_processor
from synfaith.models.prompts import PromptLayoutError

DEFAULT_LONGEST_EDGE_TILES = 2  # at most 2×2 tiles + the global image (the paper caps InternVL at 2 tiles)

ImageOnlyIdefics3Processor = image_only_processor(Idefics3Processor, "Idefics3ImageProcessor", module=__name__)
ImageOnlyIdefics3Processor.__doc__ = """``Idefics3Processor`` pinned to the slow ``Idefics3ImageProcessor`` (numpy/PIL).

The stock class needs no torchvision; pinning only makes preprocessing identical on machines
with and without it. Saving writes the stock class name.
"""


class Idefics3Adapter(VLMAdapter):
    """Idefics3 as a game: one unit per token cell of each tile; the global image maps onto them.

    Args:
        longest_edge_tiles: the image's longest edge is resized to this many tiles
            (``size={"longest_edge": N·S}``): at most N×N tiles plus the global image. The
            default 2 gives at most 4 tiles (real checkpoints default to 4, i.e. up to 16).
        image_splitting: False resizes the image to one S×S view (``do_image_splitting=False``).
    """

    model_types = ("idefics3",)

    def __init__(
        self, model, processor, *, longest_edge_tiles: int = DEFAULT_LONGEST_EDGE_TILES, image_splitting: bool = True, **options
    ):
        if longest_edge_tiles < 1:
            raise ValueError(f"longest_edge_tiles must be ≥ 1, got {longest_edge_tiles}")
        self.longest_edge_tiles = longest_edge_tiles
        self.image_splitting = bool(image_splitting)
        # do_image_splitting is not a call keyword of the stock processors (it would be dropped
        # with a warning), so it is set on a copy of the image processor
        processor = copy.copy(processor)
        processor.image_processor = copy.deepcopy(processor.image_processor)
        processor.image_processor.do_image_splitting = self.image_splitting
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        """``Idefics3ForConditionalGeneration``."""
        return Idefics3ForConditionalGeneration

    @classmethod
    def processor_class(cls):
        """The stock processor pinned to the slow image processor (:data:`ImageOnlyIdefics3Processor`)."""
        return ImageOnlyIdefics3Processor

    @property
    def tile_size(self) -> int:
        """S: the side of a tile and of the global image, in pixels."""
        return int(self.processor.image_processor.max_image_size["longest_edge"])

    def image_processor_kwargs(self):
        """The resolution cap: the longest edge resized to ``longest_edge_tiles`` tiles."""
        return {"size": {"longest_edge": self.longest_edge_tiles * self.tile_size}}

    def tile_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of tiles the image processor cuts an image of this (width, height) into; (0, 0): unsplit."""
        blank = Image.new("RGB", tuple(image_size))
        out = self.processor.image_processor(images=blank, return_row_col_info=True, **self.image_processor_kwargs())
        return int(out["rows"][0][0]), int(out["cols"][0][0])

    def token_grid(self, tile: int) -> tuple[int, int]:
        """(g, cell): tokens per side of a view and the side of a token's cell in pixels."""
        patch = int(self.model.config.vision_config.patch_size)
        scale = int(self.model.config.scale_factor)
        patches = tile // patch
        if patches % scale:
            raise PromptLayoutError(f"{patches} patches per side do not pixel-shuffle by a factor {scale}")
        return patches // scale, patch * scale

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        """Units = the tiles' token cells (the only view's when unsplit); the global view maps onto them."""
        _, n_views, _, tile, tile_w = pixel_values.shape
        rows, cols = self.tile_grid(image_size)
        n_tiles = rows * cols
        g, cell = self.token_grid(tile)
        per_view = g * g
        if tile != tile_w or n_views != (n_tiles + 1 if n_tiles else 1) or per_view * n_views != n_visual_tokens:
            raise PromptLayoutError(
                f"{n_views} pixel views of {tile}×{tile_w} px and {n_visual_tokens} image tokens do not fit "
                f"{rows}×{cols} tiles plus a global image of {g}×{g} tokens each"
            )
        coords = torch.arange(tile)
        seen = coords < g * cell  # the vision tower sees whole patches only
        along = torch.where(seen, coords // cell, 0)
        view_cells = torch.where(seen[:, None] & seen[None, :], along[:, None] * g + along[None, :], NO_UNIT)  # [S, S]
        if n_tiles == 0:
            unit_index = view_cells[None]
            n_units = per_view
        else:
            tiles = [torch.where(view_cells >= 0, t * per_view + view_cells, NO_UNIT) for t in range(n_tiles)]
            # global pixel (y, x) shows canvas point ((y + ½)·rows, (x + ½)·cols); a point in a tile's
            # unseen margin goes to the nearest cell, which it adjoins
            canvas_y = ((coords.double() + 0.5) * rows).long()
            canvas_x = ((coords.double() + 0.5) * cols).long()
            tile_of = (canvas_y[:, None] // tile) * cols + canvas_x[None, :] // tile
            cell_y = ((canvas_y % tile) // cell).clamp(max=g - 1)
            cell_x = ((canvas_x % tile) // cell).clamp(max=g - 1)
            global_view = tile_of * per_view + cell_y[:, None] * g + cell_x[None, :]
            tiles.append(torch.where(view_cells >= 0, global_view, NO_UNIT))
            unit_index = torch.stack(tiles)
            n_units = n_tiles * per_view
        mask = image_inputs.get("pixel_attention_mask")
        if mask is not None:  # padded pixels (batches of images of different sizes) are no unit
            unit_index = torch.where(mask.reshape(n_views, tile, tile).bool(), unit_index, NO_UNIT)

        token_units = torch.zeros(n_visual_tokens, n_units)
        token_units[:n_units, :n_units] = torch.eye(n_units)
        if n_tiles:
            token_units[n_units : n_units + per_view] = cell_coverage(unit_index[-1], g, cell, n_units)

        grid = np.zeros((max(rows, 1) * g, max(cols, 1) * g), dtype=np.int64)
        for t in range(max(n_tiles, 1)):
            r, c = divmod(t, max(cols, 1))
            grid[r * g : (r + 1) * g, c * g : (c + 1) * g] = t * per_view + np.arange(per_view).reshape(g, g)
        return unit_index[None, :, None], n_units, grid, token_units

    def image_features(self, pixel_values, n_variants, image_inputs):
        """Connector outputs of every view, [U, n_views · g², d] in the prompt's order."""
        mask = image_inputs.get("pixel_attention_mask")
        if mask is not None:
            mask = mask.to(pixel_values.device).repeat(n_variants, *([1] * (mask.ndim - 1)))
        features = self.model.model.get_image_features(pixel_values=pixel_values, pixel_attention_mask=mask)
        return features.reshape(n_variants, -1, features.shape[-1])

    @property
    def language_model(self) -> torch.nn.Module:
        """The Llama decoder (``model.model.text_model``)."""
        return self.model.model.text_model

    @property
    def language_layers(self) -> torch.nn.ModuleList:
        """The decoder blocks of the text model."""
        return self.model.model.text_model.layers

    @property
    def vision_tower(self) -> torch.nn.Module:
        """The SigLIP-style vision transformer."""
        return self.model.model.vision_model

    @property
    def projector(self) -> torch.nn.Module:
        """The connector: pixel shuffle and the modality projection."""
        return self.model.model.connector
