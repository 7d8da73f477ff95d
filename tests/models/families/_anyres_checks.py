"""Layout checks shared by the anyres families (LLaVA-NeXT, LLaVA-OneVision), against transformers' own code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.pixels import NO_UNIT
from synfaith.models.prefix import prefix_length
from synfaith.testing.twin_recipe import write_twin

from ._common import insertion_coalitions, noise_image

QUESTION = "Is there a red circle left of the blue square?"


def instance(size: tuple[int, int], seed: int = 0) -> Instance:
    """A random-noise image of ``size`` (width, height) with a yes/no question."""
    return Instance(id=f"img{size[0]}x{size[1]}", image=noise_image(*size, seed), question=QUESTION, choices=None, answer="yes")


def coordinate_instance(size: tuple[int, int]) -> Instance:
    """An image whose red channel is x and green channel y (linear ramps), to read positions back."""
    width, height = size
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    pixels = np.stack([x, y, np.full_like(x, 128)], -1).round().astype(np.uint8)
    return Instance(id="ramps", image=Image.fromarray(pixels), question=QUESTION, choices=None, answer="yes")


def wide_fixtures(arch: str, wide_recipe):
    """The fixtures ``wide`` (an adapter of the larger twin ``wide_recipe``, 4x4 cells per view, where
    unpadding drops cells; module-scoped) and ``any_adapter`` (the module's ``adapter``, then ``wide``)."""

    @pytest.fixture(scope="module")
    def wide(tmp_path_factory):
        """The larger twin (4x4 cells per view), where unpadding drops cells."""
        return load_model(write_twin(wide_recipe, tmp_path_factory.mktemp(f"{arch}_wide"), seed=0))

    @pytest.fixture(params=["default", "wide"])
    def any_adapter(request, adapter, wide):
        return adapter if request.param == "default" else wide

    return wide, any_adapter


def check_units_are_the_unpadded_high_res_cells(adapter, size, pack) -> None:
    """An image of ``size``: the base view then the tiles, units the unpadded high-res cells, tokens packed as the model does."""
    prepared = adapter.prepare(instance(size))
    layout = adapter.anyres_layout(size)
    rows, cols = layout.tiles
    assert prepared.pixels.clean.shape == (1, 1 + rows * cols, 3, layout.tile, layout.tile)
    kh, kw = layout.grid
    assert prepared.n_image_units == kh * kw and prepared.unit_grid.shape == (kh, kw)
    assert prepared.layout.visual_positions.numel() == layout.g**2 + kh * (kw + 1)  # base, then rows + newline
    assert not layout.shrunk
    check_token_units_against_pack(adapter, prepared, pack)
    check_newlines_in_features(adapter, prepared)


def check_masking_of_every_unit(adapter, size) -> None:
    """An image of ``size``: padding owns no unit, and masking each unit changes exactly it in every view."""
    prepared = adapter.prepare(instance(size))
    check_padding_owns_no_unit(adapter, prepared)
    check_masking_every_view(prepared, np.arange(prepared.n_image_units))


def check_token_units_against_pack(adapter, prepared, pack) -> None:
    """token_units' high-res rows are what the model's own feature packing makes of one-hot cell features.

    Every kept cell of the tile grid gets the one-hot feature of its unit (the cells unpadding
    drops get zeros), the base view zeros; ``pack(features, image_sizes)`` (the model's
    ``pack_image_features`` without newline) must then return, for each high-res token, its
    row of ``token_units`` — the identity, or the bilinear weights of a shrunk grid.
    """
    layout = adapter.anyres_layout(prepared.image_size)
    g = layout.g
    rows, cols = layout.tiles
    (r0, r1), (c0, c1) = layout.kept
    m = layout.n_units
    grid = torch.zeros(rows * g, cols * g, m, dtype=torch.float64)
    grid[r0:r1, c0:c1] = torch.eye(m, dtype=torch.float64).reshape(r1 - r0, c1 - c0, m)
    tiles = grid.reshape(rows, g, cols, g, m).permute(0, 2, 1, 3, 4).reshape(rows * cols, g * g, m)
    features = torch.cat([torch.zeros(1, g * g, m, dtype=torch.float64), tiles])
    packed = pack([features], prepared.image_inputs["image_sizes"])[0]
    token_units = prepared.token_units.double()
    newline = torch.zeros(token_units.shape[0], dtype=torch.bool)
    newline[layout.newline_positions()] = True
    high = token_units[g * g :][~newline[g * g :]]
    assert packed.shape == (g * g + high.shape[0], m)
    torch.testing.assert_close(packed[g * g :], high, rtol=0, atol=1e-6)
    assert token_units[newline].abs().sum() == 0, "newline tokens must own no unit"
    base = token_units[: g * g]
    torch.testing.assert_close(base.sum(1), torch.ones(g * g, dtype=torch.float64))


def check_newlines_in_features(adapter, prepared) -> None:
    """The image features at the newline tokens are the model's ``image_newline``, and nowhere else."""
    layout = adapter.anyres_layout(prepared.image_size)
    with torch.inference_mode():
        features = adapter.image_features(prepared.pixels.clean, 1, prepared.image_inputs)[0]
    newline = adapter.model.model.image_newline.detach()
    is_newline = (features == newline).all(-1)
    assert torch.equal(torch.nonzero(is_newline).flatten(), layout.newline_positions())
    assert features.shape[0] == prepared.layout.visual_positions.numel()


def check_padding_owns_no_unit(adapter, prepared) -> None:
    """Tile pixels of no unit are padding (identical in clean and blurred) or never seen by the tower."""
    layout = adapter.anyres_layout(prepared.image_size)
    index = prepared.pixels.unit_index.expand_as(prepared.pixels.clean)
    clean, blurred = prepared.pixels.clean, prepared.pixels.blurred
    seen = torch.zeros(layout.tile, layout.tile, dtype=torch.bool)
    seen[: layout.g * layout.patch, : layout.g * layout.patch] = True
    orphan = (index == NO_UNIT) & seen
    assert torch.equal(clean[orphan], blurred[orphan]), "a seen pixel of no unit differs between clean and blurred"
    assert not (index[:, 0] == NO_UNIT)[:, :, seen].any(), "every seen base-view pixel belongs to a unit"
    new_h, new_w = layout.resized
    n_image_pixels = new_h * new_w
    owned_in_tiles = int((index[0, 1:, 0] >= 0).sum())
    assert owned_in_tiles <= n_image_pixels  # only image pixels are owned


def check_masking_every_view(prepared, units) -> None:
    """Masking unit k changes exactly unit k's elements, in the base view and in the tiles.

    Every unit owns tile pixels; base pixels are coarser than the cells (one base pixel spans
    several canvas pixels), so a narrow unit may own none of them — every seen base pixel
    still belongs to the unit showing its centre (:func:`check_padding_owns_no_unit`).
    """
    pixels = prepared.pixels
    m = prepared.n_image_units
    index = pixels.unit_index.expand_as(pixels.clean)
    keep = np.ones((len(units), m), bool)
    keep[np.arange(len(units)), units] = False
    variants = pixels.masked(keep).reshape(len(units), *pixels.clean.shape)
    for k, variant in zip(units, variants):
        inside = index == int(k)
        assert inside[0, 1:].any(), f"unit {k} has no pixel in the tiles"
        changed = variant != pixels.clean
        assert not changed[~inside].any(), f"masking unit {k} changed other pixels"
        assert torch.equal(variant[inside], pixels.blurred[inside])


def check_base_agrees_with_tiles(adapter, prepared, min_agreement: float = 0.95) -> None:
    """Base-view pixels and tile pixels that show the same image point (read from ramp colours) share a unit.

    The points are read back from the processor's own output, so this checks the base view's
    mapping against the tiles' independently of the layout's arithmetic; base pixels centred
    on a cell boundary are ties (either cell is nearest), hence ``min_agreement``.
    """
    layout = adapter.anyres_layout(prepared.image_size)
    black, white = adapter.pixel_extremes(prepared)
    level = ((prepared.pixels.clean - black) / (white - black))[0]  # [views, 3, S, S] on the [0, 1] scale
    index = prepared.pixels.unit_index.expand_as(prepared.pixels.clean)[0, :, 0]
    width, height = prepared.image_size
    xs, ys = level[:, 0] * (width - 1), level[:, 1] * (height - 1)  # image coordinates each pixel shows
    tile_mask = index[1:] >= 0
    tile_points = torch.stack([xs[1:][tile_mask], ys[1:][tile_mask]], -1)
    tile_units = index[1:][tile_mask]
    base_mask = index[0] >= 0
    base_points = torch.stack([xs[0][base_mask], ys[0][base_mask]], -1)
    nearest = torch.cdist(base_points.double(), tile_points.double()).argmin(1)
    agreement = float((tile_units[nearest] == index[0][base_mask]).double().mean())
    assert agreement >= min_agreement, f"only {agreement:.0%} of base pixels share the unit of the tile pixel showing their point"
    assert layout.n_units == prepared.n_image_units


def check_prefix_sharing(adapter_class, adapter, size=(90, 70), answer: str = "a b c", seed: int = 0) -> None:
    """Game values with prefix sharing on and off agree to 1e-5 (F_syn-like coalitions, a 3-token answer).

    Both are ``adapter_class`` adapters of ``adapter``'s model and processor, on an image of ``size``.
    """
    prepared = adapter.prepare(instance(size))
    assert prefix_length(prepared) is not None
    adapter_on = adapter_class(adapter.model, adapter.processor, prefix_cache=True)
    adapter_off = adapter_class(adapter.model, adapter.processor, prefix_cache=False)
    target = adapter_on.make_target(prepared, answer)
    assert target.answer_ids.numel() >= 3
    image_keep, text_keep = insertion_coalitions(prepared.n_image_units, prepared.n_text_units, seed)
    before_on, before_off = adapter_on.token_forwards, adapter_off.token_forwards
    on = np.asarray(adapter_on.game(prepared, target).values(image_keep, text_keep))
    off = np.asarray(adapter_off.game(prepared, target).values(image_keep, text_keep))
    np.testing.assert_allclose(on, off, rtol=1e-5, atol=0)
    assert adapter_on.token_forwards - before_on < adapter_off.token_forwards - before_off  # the prefix was shared
