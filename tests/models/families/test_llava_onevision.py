"""LLaVA-OneVision (llava_onevision): anyres_max_9 tiles + base view on the tiny twin of llava-onevision-qwen2-0.5b-ov-hf."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from synfaith.models.anyres import AnyresLayout, capped_pinpoints
from synfaith.models.llava_onevision import DEFAULT_MAX_TILES, ImageOnlyLlavaOnevisionProcessor, LlavaOnevisionAdapter
from synfaith.models.processors import load_processor
from synfaith.testing.families.llava_onevision import SPEC, WIDE_SPEC, make_recipe

from ._anyres_checks import (
    QUESTION,
    check_base_agrees_with_tiles,
    check_masking_every_view,
    check_masking_of_every_unit,
    check_newlines_in_features,
    check_prefix_sharing,
    check_token_units_against_pack,
    check_units_are_the_unpadded_high_res_cells,
    coordinate_instance,
    instance,
    wide_fixtures,
)
from ._common import family_fixtures

SIZES = [(64, 64), (100, 40), (40, 100), (90, 70), (37, 81)]
REAL_PINPOINTS = [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)]


_one_torch_thread, twin, adapter = family_fixtures("llava_onevision")
wide, any_adapter = wide_fixtures("llava_onevision", make_recipe(WIDE_SPEC))


def _pack(adapter):
    aspect = adapter.model.config.vision_aspect_ratio
    return lambda features, sizes: adapter.model.model.pack_image_features(
        features, sizes, image_newline=None, vision_aspect_ratio=aspect
    )[0]


@pytest.mark.parametrize("size", SIZES)
def test_units_are_the_unpadded_high_res_cells(any_adapter, size):
    check_units_are_the_unpadded_high_res_cells(any_adapter, size, _pack(any_adapter))


@pytest.mark.parametrize("size", [(100, 40), (37, 81)])
def test_masking_changes_exactly_the_unit_in_every_view(any_adapter, size):
    check_masking_of_every_unit(any_adapter, size)


def test_unseen_strips_own_no_unit(adapter):
    prepared = adapter.prepare(instance((64, 64)))  # no padding: only the unseen strips are of no unit
    index = prepared.pixels.unit_index[0, :, 0]
    seen = (SPEC["tile_size"] // 14) * 14
    assert seen < SPEC["tile_size"]
    assert (index[:, seen:, :] == -1).all() and (index[:, :, seen:] == -1).all()
    assert (index[:, :seen, :seen] >= 0).all()


@pytest.mark.parametrize("size", [(64, 64), (100, 40), (40, 100), (90, 70)])
def test_base_view_pixels_map_onto_the_cells_showing_the_same_point(any_adapter, size):
    check_base_agrees_with_tiles(any_adapter, any_adapter.prepare(coordinate_instance(size)))


def test_uncapped_large_grid_is_shrunk_and_token_units_are_its_bilinear_weights(twin, adapter):
    uncapped = LlavaOnevisionAdapter(adapter.model, load_processor(twin), max_tiles=None)
    try:
        prepared = uncapped.prepare(instance((192, 128)))  # pinpoint 128x192: 4x6 tiles, 8x12 cells
        layout = uncapped.anyres_layout((192, 128))
        assert layout.tiles == (4, 6) and layout.grid == (8, 12) and layout.shrunk
        ratio = math.sqrt(8 * 12 / (9 * 2 * 2))  # anyres_max_9 over 2x2 cells per tile
        assert layout.token_grid == (int(8 // ratio), int(12 // ratio))
        assert prepared.n_image_units == 8 * 12
        check_token_units_against_pack(uncapped, prepared, _pack(uncapped))
        check_newlines_in_features(uncapped, prepared)
        mixing = (prepared.token_units[layout.g**2 :] > 0).sum(1)
        assert int(mixing.max()) > 1  # shrunk tokens mix cells, and say so
        check_masking_every_view(prepared, np.arange(0, prepared.n_image_units, 7))
    finally:
        LlavaOnevisionAdapter(adapter.model, adapter.processor)  # restore the default cap on the shared model


def test_the_wide_twin_exercises_unpadding(wide):
    layout = wide.anyres_layout((90, 70))  # 2x2 tiles, 8x8 cells: a row dropped at the top and the bottom
    assert layout.tiles == (2, 2) and layout.kept == ((1, 7), (0, 8))


def test_prefix_sharing_on_and_off_agree(adapter):
    check_prefix_sharing(LlavaOnevisionAdapter, adapter, (90, 70))


def test_prompt_is_the_onevision_template(adapter):
    prepared = adapter.prepare(instance((64, 64)))
    assert prepared.prompt == f"<|im_start|>user\n<image>\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
    visual = prepared.layout.visual_positions
    assert torch.equal(visual, torch.arange(int(visual[0]), int(visual[0]) + visual.numel()))


def test_processor_loads_without_torchvision(twin):
    assert importlib.util.find_spec("torchvision") is None
    processor = load_processor(twin)
    assert type(processor) is ImageOnlyLlavaOnevisionProcessor
    assert type(processor.image_processor).__name__ == "LlavaOnevisionImageProcessor"  # the slow one
    assert "video_processor" not in processor.attributes
    with pytest.raises(ValueError, match="images only"):
        processor(text="x", videos=[np.zeros((2, 8, 8, 3), np.uint8)])


def test_default_cap_keeps_four_tiles_and_never_shrinks(adapter):
    assert adapter.max_tiles == DEFAULT_MAX_TILES == 4
    tile = SPEC["tile_size"]
    expected = [p for p in SPEC["image_grid_pinpoints"] if (p[0] // tile) * (p[1] // tile) <= 4]
    assert adapter.pinpoints == expected == adapter.model.config.image_grid_pinpoints
    # the real checkpoint: 384 px tiles, 27x27 cells, anyres_max_9 — no capped pinpoint shrinks
    real = capped_pinpoints(REAL_PINPOINTS, 384, DEFAULT_MAX_TILES)
    assert sorted((h // 384, w // 384) for h, w in real) == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (3, 1), (4, 1)]
    for h, w in real:
        for image in [(w, h), (w, h // 2 + 1), (w // 2 + 1, h)]:
            assert not AnyresLayout.of(image, real, 384, 14, max_tiles_per_image=9).shrunk
    assert AnyresLayout.of((2304, 2304), REAL_PINPOINTS, 384, 14, max_tiles_per_image=9).shrunk  # uncapped: it does
