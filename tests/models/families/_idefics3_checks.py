"""Layout checks shared by the Idefics3 and SmolVLM family tests (tiles + a global image, pixel shuffle)."""

import numpy as np
import torch
from PIL import Image

from synfaith.data.instance import Instance
from synfaith.models.prefix import prefix_length


def instance(width: int, height: int, seed: int = 0) -> Instance:
    """A random-pixel instance of the given size with a two-choice question."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Instance(f"tiles-{width}x{height}", Image.fromarray(pixels), "Which shape is on the left?", choices=("circle", "square"))


def geometry(adapter) -> tuple[int, int, int]:
    """(S, g, cell): tile side, tokens per side of a view, cell side in pixels, from the twin's config."""
    config = adapter.model.config
    tile = adapter.tile_size
    patch, scale = config.vision_config.patch_size, config.scale_factor
    return tile, (tile // patch) // scale, patch * scale


def check_units_and_views(adapter, prepared, rows: int, cols: int) -> None:
    """Units = the tiles' token cells; views = tiles row-major + global; the prompt's blocks match."""
    tile, g, cell = geometry(adapter)
    per_view, n_tiles = g * g, rows * cols
    n_views = n_tiles + 1 if n_tiles else 1
    assert tuple(prepared.pixels.clean.shape) == (1, n_views, 3, tile, tile)
    assert prepared.layout.visual_positions.numel() == n_views * per_view
    n_units = max(n_tiles, 1) * per_view
    assert prepared.n_image_units == n_units
    assert prepared.unit_grid.shape == (max(rows, 1) * g, max(cols, 1) * g)
    assert sorted(prepared.unit_grid.ravel().tolist()) == list(range(n_units))
    token_units = prepared.token_units
    assert torch.equal(token_units[:n_units], torch.eye(n_units))  # tile token k is unit k
    assert torch.allclose(token_units.sum(1), torch.ones(token_units.shape[0]))

    # the prompt: one <fake><row_i_col_j> block of g² image tokens per tile, row-major, then the global one
    text = adapter.tokenizer.decode(prepared.layout.input_ids)
    image = adapter.processor.image_token
    fake = adapter.processor.fake_image_token
    expected = "".join(f"{fake}<row_{r + 1}_col_{c + 1}>{image * per_view}" + ("\n" if c == cols - 1 else "") for r in range(rows) for c in range(cols))
    expected += ("\n" if n_tiles else "") + f"{fake}<global-img>{image * per_view}{fake}"
    assert expected in text

    # the global image's tokens cover the cells under them: token (i, j) shows canvas point
    # ((i + ½)·cell·rows, (j + ½)·cell·cols) at its centre
    if n_tiles:
        for k in range(per_view):
            i, j = divmod(k, g)
            y, x = int((i + 0.5) * cell * rows), int((j + 0.5) * cell * cols)
            t = (y // tile) * cols + x // tile
            centre = t * per_view + min((y % tile) // cell, g - 1) * g + min((x % tile) // cell, g - 1)
            weights = token_units[n_units + k]
            assert weights[centre] > 0, (k, centre)
            assert set(torch.nonzero(weights).flatten().tolist()) <= set(range(n_units))


def check_pixel_shuffle_order(adapter, prepared) -> None:
    """Token k of a view is pixel-shuffled from the s×s patches of cell (k // g, k % g) (transformers' own shuffle)."""
    tile, g, cell = geometry(adapter)
    patch, scale = adapter.model.config.vision_config.patch_size, adapter.model.config.scale_factor
    side = tile // patch
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()], -1)[None].float()  # [1, side², 2]: (row, col) of each patch
    shuffled = adapter.model.model.connector.pixel_shuffle(coords, scale)[0].reshape(g * g, scale * scale, 2)
    unit_index = prepared.pixels.unit_index[0, 0, 0]  # the first view (tile 0, or the only view)
    for k, patches in enumerate(shuffled.long()):
        assert {(int(r) // scale, int(c) // scale) for r, c in patches} == {divmod(k, g)}
        for r, c in patches:
            region = unit_index[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch]
            assert bool((region == k).all()), (k, int(r), int(c))
    assert cell == patch * scale


def check_masking_every_view(prepared) -> None:
    """Masking unit k puts exactly unit k's elements — in its tile and in the global image — at the zero-state."""
    pixels = prepared.pixels
    m = prepared.n_image_units
    index = pixels.unit_index.expand_as(pixels.clean)
    n_views = pixels.clean.shape[1]
    keep = np.ones((m, m), bool)
    keep[np.arange(m), np.arange(m)] = False
    variants = pixels.masked(keep).reshape(m, *pixels.clean.shape)
    changed_views = set()
    for k in range(m):
        inside = index == k
        assert torch.equal(variants[k][~inside], pixels.clean[~inside])
        assert torch.equal(variants[k][inside], pixels.blurred[inside])
        views = {v for v in range(n_views) if bool(inside[0, v].any())}
        assert len(views) == (2 if n_views > 1 else 1), (k, views)  # its tile and, when split, the global image
        changed_views |= views
    assert changed_views == set(range(n_views))


def check_prefix_sharing(adapter_class, adapter, prepared, **options) -> None:
    """Values with prefix sharing on and off agree to 1e-5 on F_syn-like coalitions, with a 3-token answer."""
    shared = adapter_class(adapter.model, adapter.processor, prefix_cache=True, **options)
    full = adapter_class(adapter.model, adapter.processor, prefix_cache=False, **options)
    assert prefix_length(prepared) is not None
    target = shared.make_target(prepared, "a b c")
    assert target.answer_ids.numel() >= 3
    m, n = prepared.n_image_units, prepared.n_text_units
    rng = np.random.default_rng(0)
    image_keep = np.vstack([np.ones(m, bool), np.zeros(m, bool), rng.random((4, m)) < 0.5])
    text_keep = np.ones((len(image_keep), n), bool)
    order = rng.permutation(m)
    for steps in (3, 7):  # nested coalitions along an order, with all text / no text (as F_syn)
        keep = np.zeros(m, bool)
        keep[order[: steps * m // 10]] = True
        image_keep = np.vstack([image_keep, keep, keep])
        text_keep = np.vstack([text_keep, np.ones(n, bool), np.zeros(n, bool)])
    on = shared.game(prepared, target).values(image_keep, text_keep)
    off = full.game(prepared, target).values(image_keep, text_keep)
    assert shared.token_forwards < full.token_forwards  # the prefix really was shared
    np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-12)
