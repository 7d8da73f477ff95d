"""InternVL (transformers-native checkpoints such as ``OpenGVLab/InternVL3-1B-hf``).

GotOcr2 tiling: the image is resized to a canvas of ``cols × rows`` tiles of S px (the grid
closest to its aspect ratio, at most ``max_tiles``), cut row-major, plus a thumbnail of the
whole image when there is more than one tile. Each tile gives g×g tokens after the 0.5 pixel
shuffle (real: 16×16 per 448 px tile); tokens run tile by tile, row-major within a tile.
Visual units = the cells of the tiles; the thumbnail's tokens are not units but map onto the
cells they cover, and masking a unit also blends its region in the thumbnail.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from transformers import InternVLForConditionalGeneration
from transformers.models.got_ocr2.image_processing_got_ocr2 import get_optimal_tiled_canvas

from synfaith.models.base import VLMAdapter
from synfaith.models.pixels import cell_coverage
from synfaith.models.prompts import PromptLayoutError

PAPER_MAX_TILES = 2


class InternVLAdapter(VLMAdapter):
    """InternVL as a game: one unit per token cell of each tile.

    Args:
        max_tiles: most tiles per image (the paper's 2 by default); 1 disables tiling.
    """

    model_types = ("internvl",)

    def __init__(self, model, processor, *, max_tiles: int = PAPER_MAX_TILES, **options):
        if max_tiles < 1:
            raise ValueError(f"max_tiles must be ≥ 1, got {max_tiles}")
        self.max_tiles = max_tiles
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        return InternVLForConditionalGeneration

    @classmethod
    def processor_class(cls):
        from synfaith.models.processors import ImageOnlyInternVLProcessor

        return ImageOnlyInternVLProcessor

    def image_processor_kwargs(self):
        return {"crop_to_patches": self.max_tiles > 1, "max_patches": self.max_tiles}

    def _canvas(self, image_size: tuple[int, int], tile: int) -> tuple[int, int]:
        """(columns, rows) of the tile canvas the processor chose for this image."""
        if self.max_tiles == 1:
            return 1, 1
        width, height = image_size
        min_tiles = int(getattr(self.processor.image_processor, "min_patches", 1))
        return get_optimal_tiled_canvas((height, width), (tile, tile), min_tiles, self.max_tiles)

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        n_views, _, tile, _ = pixel_values.shape
        cols, rows = self._canvas(image_size, tile)
        n_tiles = cols * rows
        has_thumbnail = n_views == n_tiles + 1
        tokens_per_view = n_visual_tokens // n_views
        g = math.isqrt(tokens_per_view)
        if n_views not in (n_tiles, n_tiles + 1) or g * g * n_views != n_visual_tokens or tile % g:
            raise PromptLayoutError(
                f"{n_views} pixel views and {n_visual_tokens} image tokens do not fit a {cols}×{rows} "
                f"tile canvas with square token grids"
            )
        cell = tile // g
        per_tile = g * g
        coords = torch.arange(tile)
        tile_cells = (coords[:, None] // cell) * g + coords[None, :] // cell  # [tile, tile]
        unit_index = torch.stack([t * per_tile + tile_cells for t in range(n_tiles)])
        if has_thumbnail:
            # thumbnail pixel (y, x) shows canvas point ((y + ½)·rows, (x + ½)·cols)
            canvas_y = ((coords.double() + 0.5) * rows).long()
            canvas_x = ((coords.double() + 0.5) * cols).long()
            tile_of = (canvas_y[:, None] // tile) * cols + canvas_x[None, :] // tile
            cell_of = ((canvas_y[:, None] % tile) // cell) * g + (canvas_x[None, :] % tile) // cell
            thumbnail = tile_of * per_tile + cell_of
            unit_index = torch.cat([unit_index, thumbnail[None]])
        n_units = n_tiles * per_tile

        token_units = torch.zeros(n_visual_tokens, n_units)
        token_units[:n_units, :n_units] = torch.eye(n_units)
        if has_thumbnail:
            token_units[n_units:] = cell_coverage(unit_index[-1], g, cell, n_units)

        grid = np.zeros((rows * g, cols * g), dtype=np.int64)
        for t in range(n_tiles):
            r, c = divmod(t, cols)
            grid[r * g : (r + 1) * g, c * g : (c + 1) * g] = t * per_tile + np.arange(per_tile).reshape(g, g)
        return unit_index[:, None], n_units, grid, token_units

    def image_features(self, pixel_values, n_variants, image_inputs):
        features = self.model.get_image_features(pixel_values=pixel_values)
        return features.reshape(n_variants, -1, features.shape[-1])
