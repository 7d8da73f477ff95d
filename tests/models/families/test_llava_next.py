"""LLaVA-NeXT (llava_next): anyres tiles + base view + newlines on the tiny twin of llava-v1.6-mistral-7b-hf."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from synfaith.models.anyres import AnyresLayout, capped_pinpoints
from synfaith.models.llava_next import ImageOnlyLlavaNextProcessor, LlavaNextAdapter
from synfaith.models.processors import load_processor
from synfaith.testing.families.llava_next import SPEC, WIDE_SPEC, make_recipe

from ._anyres_checks import (
    QUESTION,
    check_base_agrees_with_tiles,
    check_masking_of_every_unit,
    check_prefix_sharing,
    check_token_units_against_pack,
    check_units_are_the_unpadded_high_res_cells,
    coordinate_instance,
    instance,
    wide_fixtures,
)
from ._common import family_fixtures

SIZES = [(64, 64), (100, 40), (40, 100), (90, 70), (37, 81)]
REAL_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


_one_torch_thread, twin, adapter = family_fixtures("llava_next")
wide, any_adapter = wide_fixtures("llava_next", make_recipe(WIDE_SPEC))


def _pack(adapter):
    return lambda features, sizes: adapter.model.model.pack_image_features(features, sizes, "default", image_newline=None)[0]


@pytest.mark.parametrize("size", SIZES)
def test_units_are_the_unpadded_high_res_cells(any_adapter, size):
    check_units_are_the_unpadded_high_res_cells(any_adapter, size, _pack(any_adapter))


@pytest.mark.parametrize("size", [(100, 40), (37, 81)])
def test_masking_changes_exactly_the_unit_in_every_view(any_adapter, size):
    check_masking_of_every_unit(any_adapter, size)


@pytest.mark.parametrize("size", [(64, 64), (100, 40), (40, 100), (90, 70)])
def test_base_view_pixels_map_onto_the_cells_showing_the_same_point(any_adapter, size):
    check_base_agrees_with_tiles(any_adapter, any_adapter.prepare(coordinate_instance(size)))


def test_the_wide_twin_exercises_unpadding(wide):
    layout = wide.anyres_layout((90, 70))  # 2x2 tiles, 8x8 cells: a row dropped at the top and the bottom
    assert layout.tiles == (2, 2) and layout.kept == ((1, 7), (0, 8))
    assert wide.anyres_layout((37, 81)).kept == ((0, 8), (0, 4))


def test_prefix_sharing_on_and_off_agree(adapter):
    check_prefix_sharing(LlavaNextAdapter, adapter, (90, 70))


def test_prompt_is_the_mistral_template(adapter):
    prepared = adapter.prepare(instance((64, 64)))
    assert prepared.prompt == f"[INST] <image>\n{QUESTION} [/INST]"
    ids = prepared.layout.input_ids
    assert int(ids[0]) == adapter.tokenizer.convert_tokens_to_ids("<s>")
    visual = prepared.layout.visual_positions
    assert torch.equal(visual, torch.arange(int(visual[0]), int(visual[0]) + visual.numel()))


def test_processor_loads_without_torchvision(twin):
    assert importlib.util.find_spec("torchvision") is None
    processor = load_processor(twin)
    assert type(processor) is ImageOnlyLlavaNextProcessor
    assert type(processor.image_processor).__name__ == "LlavaNextImageProcessor"  # the slow one
    assert not hasattr(processor, "video_processor") or processor.video_processor is None


def test_default_cap_is_the_checkpoints_pinpoints(adapter):
    assert adapter.max_tiles is None
    assert adapter.pinpoints == SPEC["image_grid_pinpoints"] == adapter.model.config.image_grid_pinpoints
    # the real checkpoint: at most 4 tiles of 336 px, so at most 48x48 = 2304 units
    assert capped_pinpoints(REAL_PINPOINTS, 336, None) == REAL_PINPOINTS
    largest = max(AnyresLayout.of((w, h), REAL_PINPOINTS, 336, 14).n_units for h, w in REAL_PINPOINTS)
    assert largest == 48 * 48


def test_max_tiles_caps_the_pinpoints_everywhere(adapter):
    capped = LlavaNextAdapter(adapter.model, adapter.processor, max_tiles=2)
    try:
        assert capped.pinpoints == SPEC["image_grid_pinpoints"][:2]  # 1x2 and 2x1 tiles
        assert adapter.processor.image_processor.image_grid_pinpoints == SPEC["image_grid_pinpoints"]  # not mutated
        prepared = capped.prepare(instance((64, 64)))
        assert prepared.pixels.clean.shape[1] == 3  # base + 2 tiles
        check_token_units_against_pack(capped, prepared, _pack(capped))
        with pytest.raises(ValueError, match="no grid pinpoint"):
            LlavaNextAdapter(adapter.model, adapter.processor, max_tiles=1)
    finally:
        LlavaNextAdapter(adapter.model, adapter.processor)  # restore the model's cap for the other tests
