"""The "anyres" geometry of LLaVA-NeXT and LLaVA-OneVision: tiles, base view, unpadding, newlines.

Both processors (transformers 4.57) pick the best grid pinpoint (height, width) for the image
(``select_best_resolution``), resize the image into it keeping the aspect ratio
(``get_patch_output_size``: the long side fills, the other is ``ceil``-ed), paste it centred
on a zero canvas, cut the canvas row-major into ``rows × cols`` tiles of the vision tower's
size S, and put a *base view* in front: the whole image squashed to S × S. The pixel tensor is
``[1, 1 + rows·cols, 3, S, S]`` (base first).

The vision tower turns each view into g × g cells of P px (g = S // P; pixels past g·P are
never seen, e.g. OneVision's 384 px tile holds 27 cells of 14 px and 6 unseen px). The model
(``pack_image_features``) lays the tiles' cells out as one ``rows·g × cols·g`` feature grid,
drops the rows (or columns) that are padding (``unpad_image``, symmetric, in cells), and —
OneVision's ``anyres_max_N`` only — bilinearly shrinks the grid when it holds more than
``1.1² · N · g²`` cells. The image tokens are then: the base view's g² cells (row-major), and
for every row of the high-res grid its cells followed by one ``image_newline`` token.

Units (:class:`AnyresLayout`): the cells of the unpadded high-res grid, row-major. A tile pixel
belongs to the unit of its cell; a pixel of a dropped (padding) cell that still shows image
content belongs to the nearest kept cell; padding pixels and pixels the tower never sees
belong to no unit (-1; they are equal in the clean and the blurred tensor, or unseen). A base
pixel belongs to the unit whose canvas cell shows the same point of the image, so masking a
unit blends its region in the tiles *and* in the base view. Token → unit map
(``token_units``): a high-res token is its cell (identity), or, after OneVision's bilinear
shrink, the bilinear weights of the cells it mixes; a base token spreads over the units its
pixels map to (fractions of its pixels); a newline token owns no pixels (a zero row).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from transformers.image_processing_utils import select_best_resolution

from synfaith.models.base import VLMAdapter
from synfaith.models.pixels import cell_coverage
from synfaith.models.prompts import PromptLayoutError

NO_UNIT = -1


def capped_pinpoints(pinpoints, tile: int, max_tiles: int | None) -> list[list[int]]:
    """The grid pinpoints (height, width) of at most ``max_tiles`` tiles of ``tile`` px (None: all)."""
    pinpoints = [list(map(int, p)) for p in pinpoints]
    if max_tiles is None:
        return pinpoints
    if max_tiles < 1:
        raise ValueError(f"max_tiles must be ≥ 1 or None, got {max_tiles}")
    kept = [p for p in pinpoints if (p[0] // tile) * (p[1] // tile) <= max_tiles]
    if not kept:
        smallest = min((p[0] // tile) * (p[1] // tile) for p in pinpoints)
        raise ValueError(f"max_tiles={max_tiles} leaves no grid pinpoint: the checkpoint's smallest has {smallest} tiles")
    return kept


def unpadded_range(original: tuple[int, int], current: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Kept rows ``[r0, r1)`` and columns ``[c0, c1)`` of a ``current`` (h, w) cell grid, as ``unpad_image`` keeps them."""
    height, width = original
    cur_h, cur_w = current
    if width / height > cur_w / cur_h:
        new_h = int(round(height * (cur_w / width), 7))
        pad = (cur_h - new_h) // 2
        return (pad, cur_h - pad), (0, cur_w)
    new_w = int(round(width * (cur_h / height), 7))
    pad = (cur_w - new_w) // 2
    return (0, cur_h), (pad, cur_w - pad)


def _bilinear_weights(n_in: int, n_out: int) -> torch.Tensor:
    """[n_out, n_in]: the weights ``F.interpolate(mode="bilinear", align_corners=False)`` gives one axis."""
    eye = torch.eye(n_in, dtype=torch.float64)[None, :, :, None]  # channel c = one-hot source row c
    out = torch.nn.functional.interpolate(eye, [n_out, 1], mode="bilinear")
    return out[0, :, :, 0].T


@dataclass(frozen=True)
class AnyresLayout:
    """The anyres geometry of one image: tile canvas, unpadded cell grid, token order.

    Attributes:
        image_size: the original (width, height).
        resolution: the chosen pinpoint (height, width) of the canvas.
        tile: S, the side of a tile and of the base view, in px.
        patch: P, the side of a cell, in px; ``g = tile // patch`` cells per view side.
        max_cells: OneVision's ``N · g²`` of ``anyres_max_N`` (None: the grid is never shrunk).
    """

    image_size: tuple[int, int]
    resolution: tuple[int, int]
    tile: int
    patch: int
    max_cells: int | None = None

    @classmethod
    def of(cls, image_size, pinpoints, tile: int, patch: int, max_tiles_per_image: int | None = None) -> AnyresLayout:
        """The layout the processor and the model give an image of ``image_size`` (width, height)."""
        width, height = image_size
        resolution = tuple(select_best_resolution((height, width), [list(p) for p in pinpoints]))
        g = tile // patch
        max_cells = None if max_tiles_per_image is None else max_tiles_per_image * g * g
        return cls((int(width), int(height)), (int(resolution[0]), int(resolution[1])), tile, patch, max_cells)

    @property
    def g(self) -> int:
        """Cells per side of one view (tile or base)."""
        return self.tile // self.patch

    @property
    def tiles(self) -> tuple[int, int]:
        """(rows, cols) of tiles on the canvas."""
        return self.resolution[0] // self.tile, self.resolution[1] // self.tile

    @property
    def resized(self) -> tuple[int, int]:
        """(height, width) of the image inside the canvas (``get_patch_output_size``)."""
        width, height = self.image_size
        target_h, target_w = self.resolution
        scale_w, scale_h = target_w / width, target_h / height
        if scale_w < scale_h:
            return min(math.ceil(height * scale_w), target_h), target_w
        return target_h, min(math.ceil(width * scale_h), target_w)

    @property
    def paste(self) -> tuple[int, int]:
        """(top, left) offset of the image in the canvas (``_get_padding_size``)."""
        new_h, new_w = self.resized
        return (self.resolution[0] - new_h) // 2, (self.resolution[1] - new_w) // 2

    @property
    def kept(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Kept cell rows ``[r0, r1)`` and columns ``[c0, c1)`` of the high-res grid after unpadding."""
        rows, cols = self.tiles
        width, height = self.image_size
        return unpadded_range((height, width), (rows * self.g, cols * self.g))

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of units: the unpadded high-res cell grid."""
        (r0, r1), (c0, c1) = self.kept
        return r1 - r0, c1 - c0

    @property
    def token_grid(self) -> tuple[int, int]:
        """(rows, cols) of high-res tokens: the unit grid, or its bilinear shrink (``anyres_max_N``)."""
        kh, kw = self.grid
        if self.max_cells is not None:
            ratio = math.sqrt(kh * kw / self.max_cells)
            if ratio > 1.1:
                return int(kh // ratio), int(kw // ratio)
        return kh, kw

    @property
    def shrunk(self) -> bool:
        """Whether the high-res grid is bilinearly shrunk, so its tokens mix cells."""
        return self.token_grid != self.grid

    @property
    def n_units(self) -> int:
        """The number of visual units m (cells of the unpadded high-res grid)."""
        kh, kw = self.grid
        return kh * kw

    @property
    def n_tokens(self) -> int:
        """Image tokens in the prompt: base cells, high-res tokens, one newline per high-res row."""
        th, tw = self.token_grid
        return self.g * self.g + th * (tw + 1)

    def _cells(self, canvas_y: torch.Tensor, canvas_x: torch.Tensor, clamp_unseen: bool) -> torch.Tensor:
        """Units of canvas points (integer px), clamped into the kept grid; -1 where unseen (unless clamped)."""
        g, tile, patch = self.g, self.tile, self.patch
        (r0, r1), (c0, c1) = self.kept

        def axis(coord, lo, hi):
            local = coord % tile
            cell = (coord // tile) * g + torch.clamp(local // patch, max=g - 1)
            unseen = local >= g * patch
            # an unseen strip's point goes to the nearer seen cell: this tile's last or the next one's first
            cell = torch.where(unseen & (2 * (local - g * patch) >= tile - g * patch), cell + 1, cell)
            return torch.clamp(cell, lo, hi - 1) - lo, unseen

        rows, unseen_y = axis(canvas_y, r0, r1)
        cols, unseen_x = axis(canvas_x, c0, c1)
        units = rows[:, None] * (c1 - c0) + cols[None, :]
        if not clamp_unseen:
            units = torch.where(unseen_y[:, None] | unseen_x[None, :], NO_UNIT, units)
        return units

    def unit_index(self) -> torch.Tensor:
        """int64 [1, 1 + rows·cols, 1, S, S]: the unit of every pixel of every view (base first)."""
        rows, cols = self.tiles
        tile = self.tile
        new_h, new_w = self.resized
        top, left = self.paste
        y = torch.arange(rows * tile)
        x = torch.arange(cols * tile)
        canvas = self._cells(y, x, clamp_unseen=False)
        inside = ((y >= top) & (y < top + new_h))[:, None] & ((x >= left) & (x < left + new_w))[None, :]
        canvas = torch.where(inside, canvas, NO_UNIT)
        views = canvas.reshape(rows, tile, cols, tile).permute(0, 2, 1, 3).reshape(rows * cols, tile, tile)

        # base pixel (v, u) shows image point ((v + ½)·H/S, (u + ½)·W/S): the canvas point of it
        width, height = self.image_size
        centre = torch.arange(tile, dtype=torch.float64) + 0.5
        base_y = torch.floor(top + centre * new_h / tile).long().clamp(top, top + new_h - 1)
        base_x = torch.floor(left + centre * new_w / tile).long().clamp(left, left + new_w - 1)
        base = self._cells(base_y, base_x, clamp_unseen=True)
        seen = torch.arange(tile) < self.g * self.patch
        base = torch.where(seen[:, None] & seen[None, :], base, NO_UNIT)
        return torch.cat([base[None], views])[None, :, None]

    def token_units(self, unit_index: torch.Tensor | None = None) -> torch.Tensor:
        """float[v, m]: how much of each unit every image token covers (token order of the prompt)."""
        if unit_index is None:
            unit_index = self.unit_index()
        g, patch, m = self.g, self.patch, self.n_units
        th, tw = self.token_grid
        out = torch.zeros(self.n_tokens, m)
        out[: g * g] = cell_coverage(unit_index[0, 0, 0], g, patch, m)
        kh, kw = self.grid
        if self.shrunk:
            wy, wx = _bilinear_weights(kh, th), _bilinear_weights(kw, tw)
            high = torch.einsum("ia,jb->ijab", wy, wx).reshape(th, tw, m).float()
        else:
            high = torch.eye(m).reshape(kh, kw, m)
        high = torch.cat([high, torch.zeros(th, 1, m)], dim=1).reshape(th * (tw + 1), m)  # newline column
        out[g * g :] = high
        return out

    def newline_positions(self) -> torch.Tensor:
        """Indices, among the image tokens, of the ``image_newline`` tokens."""
        th, tw = self.token_grid
        return self.g * self.g + torch.arange(th) * (tw + 1) + tw

    def layout(self, pixel_values: torch.Tensor, n_visual_tokens: int):
        """``(unit_index, n_units, unit_grid, token_units)`` after checking the processor's shapes."""
        rows, cols = self.tiles
        expected = (1, 1 + rows * cols, 3, self.tile, self.tile)
        if tuple(pixel_values.shape) != expected or n_visual_tokens != self.n_tokens:
            raise PromptLayoutError(
                f"anyres layout of a {self.image_size} image at pinpoint {self.resolution}: expected pixel_values "
                f"{expected} and {self.n_tokens} image tokens, got {tuple(pixel_values.shape)} and {n_visual_tokens}"
            )
        unit_index = self.unit_index()
        kh, kw = self.grid
        return unit_index, self.n_units, np.arange(self.n_units).reshape(kh, kw), self.token_units(unit_index)


class AnyresAdapter(VLMAdapter):
    """Shared part of the anyres adapters: the pinpoint cap, the layout, the batched vision call.

    Args:
        max_tiles: keep only the grid pinpoints of at most this many tiles (None: all of the
            checkpoint's; ``"default"``: the family's default). The processor's pinpoints are
            the checkpoint's; the adapter works on a copy of its image processor holding the
            capped list and writes the same list into the model's config, so the token count,
            the pixels and the model's feature packing agree. Adapters sharing one model must
            therefore share the cap (checked on every vision call).
    """

    default_max_tiles: ClassVar[int | None] = None
    max_tiles_per_image: int | None = None  # OneVision's anyres_max_N (None: never shrunk)

    def __init__(self, model, processor, *, max_tiles: int | None | str = "default", **options):
        self.max_tiles = self.default_max_tiles if max_tiles == "default" else max_tiles
        tile = int(model.config.vision_config.image_size)
        pinpoints = capped_pinpoints(processor.image_processor.image_grid_pinpoints, tile, self.max_tiles)
        processor = copy.copy(processor)
        processor.image_processor = copy.deepcopy(processor.image_processor)
        processor.image_processor.image_grid_pinpoints = pinpoints
        for config in self._configs(model):
            config.image_grid_pinpoints = [list(p) for p in pinpoints]
        super().__init__(model, processor, **options)

    @staticmethod
    def _configs(model) -> list:
        """The config objects the model reads ``image_grid_pinpoints`` from (its own and its inner model's)."""
        configs = [model.config, getattr(getattr(model, "model", None), "config", model.config)]
        return list({id(c): c for c in configs}.values())

    @property
    def pinpoints(self) -> list[list[int]]:
        """The grid pinpoints (height, width) in use."""
        return self.processor.image_processor.image_grid_pinpoints

    def image_processor_kwargs(self):
        return {}

    def anyres_layout(self, image_size: tuple[int, int]) -> AnyresLayout:
        """The tile canvas, unit grid and token order of an image of ``image_size`` (width, height)."""
        vision = self.model.config.vision_config
        return AnyresLayout.of(image_size, self.pinpoints, int(vision.image_size), int(vision.patch_size), self.max_tiles_per_image)

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        height, width = (int(v) for v in image_inputs["image_sizes"][0])
        if (width, height) != tuple(image_size):
            raise ValueError(f"image_sizes {(height, width)} (h, w) do not match the image's {image_size} (w, h)")
        return self.anyres_layout(image_size).layout(pixel_values, n_visual_tokens)

    def image_features(self, pixel_values, n_variants, image_inputs):
        for config in self._configs(self.model):
            if [list(p) for p in config.image_grid_pinpoints] != [list(p) for p in self.pinpoints]:
                raise RuntimeError(
                    f"the model's image_grid_pinpoints were changed (another adapter with a different max_tiles "
                    f"shares this model?): {config.image_grid_pinpoints} instead of {self.pinpoints}"
                )
        sizes = image_inputs["image_sizes"].repeat(n_variants, 1)
        return torch.stack(list(self.model.get_image_features(pixel_values=pixel_values, image_sizes=sizes)))
