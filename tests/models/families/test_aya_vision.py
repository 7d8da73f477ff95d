"""Aya Vision (``aya_vision``) on its tiny twin: tiles + thumbnail layout, unit mapping, masking, prefix sharing, caps."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.aya_vision import AyaVisionAdapter, ImageOnlyAyaVisionProcessor
from synfaith.models.processors import load_processor

from ._common import check_prefix_sharing_agrees, family_fixtures, noise_image, own_chat_template

TILE, CELL, G = 112, 28, 4  # twin tile px, token cell px, cells per tile side


_one_torch_thread, twin, adapter = family_fixtures("aya_vision")


@pytest.fixture(scope="module")
def wide_instance():
    # 150×100 px: a 2×1 tile canvas (224×112) plus the thumbnail, at the default 2-tile cap
    return Instance("aya-wide", noise_image(150, 100), "Which shape is on the left?", choices=("circle", "square"))


def test_prompt_layout_tiles_then_global_view(adapter, wide_instance):
    prepared = adapter.prepare(wide_instance)
    tokens = adapter.tokenizer.convert_ids_to_tokens(prepared.layout.input_ids.tolist())
    assert tokens[:3] == ["<BOS_TOKEN>", "<|START_OF_TURN_TOKEN|>", "<|SYSTEM_TOKEN|>"] and tokens.count("<BOS_TOKEN>") == 1
    assert tokens[-2:] == ["<|START_OF_TURN_TOKEN|>", "<|CHATBOT_TOKEN|>"]
    start, end = tokens.index("<|START_OF_IMG|>"), tokens.index("<|END_OF_IMG|>")
    assert tokens[start - 2 : start] == ["<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"]
    block = adapter.tokenizer.convert_tokens_to_string(tokens[start + 1 : end]).replace("<|IMG_PATCH|>", "P")
    assert block == "TILE_1" + "P" * 16 + "TILE_2" + "P" * 16 + "TILE_GLOBAL" + "P" * 16
    assert tuple(prepared.pixels.clean.shape) == (3, 3, TILE, TILE)  # two tiles, then the thumbnail
    visual = prepared.layout.visual_positions
    assert visual.numel() == 48 and all(tokens[p] == "<|IMG_PATCH|>" for p in visual.tolist())
    assert adapter.image_features(prepared.pixels.clean, 1, prepared.image_inputs).shape[1] == 48
    query = adapter.tokenizer.decode(prepared.layout.input_ids[prepared.layout.query_positions])
    assert query.startswith("Which shape is on the left?") and query.rstrip().endswith("square")


def test_units_are_tile_cells_and_the_thumbnail_maps_onto_them(adapter, wide_instance):
    prepared = adapter.prepare(wide_instance)
    assert prepared.n_image_units == 32 and prepared.unit_grid.shape == (G, 2 * G)
    # the canvas grid: tile 0 is the left half, tile 1 the right half, cells row-major in a tile
    assert prepared.unit_grid[0].tolist() == [0, 1, 2, 3, 16, 17, 18, 19]
    tu = prepared.token_units
    assert torch.equal(tu[:32], torch.eye(32))
    np.testing.assert_allclose(tu.sum(1).numpy(), 1.0, atol=1e-6)
    # thumbnail token (r, c) covers canvas columns 56c..56c+56: cells 2c', 2c'+1 of one tile, half each
    for r in range(G):
        for c in range(G):
            tile, first = divmod(2 * c, G)
            expected = torch.zeros(32)
            expected[tile * 16 + r * G + first : tile * 16 + r * G + first + 2] = 0.5
            assert torch.allclose(tu[32 + r * G + c], expected), (r, c)


def test_single_tile_is_the_global_view_alone(adapter):
    square = Instance("aya-square", noise_image(64, 64), "Is there a cat?")
    prepared = adapter.prepare(square)
    tokens = adapter.tokenizer.convert_ids_to_tokens(prepared.layout.input_ids.tolist())
    assert "TILE" not in "".join(tokens).replace("TILE_GLOBAL", "")
    assert tuple(prepared.pixels.clean.shape) == (1, 3, TILE, TILE) and prepared.n_image_units == 16
    assert torch.equal(prepared.token_units, torch.eye(16))


def test_masking_unit_k_changes_its_cell_and_its_thumbnail_footprint_only(adapter, wide_instance):
    prepared = adapter.prepare(wide_instance)
    pixels = prepared.pixels
    m = prepared.n_image_units
    variants = pixels.masked(~np.eye(m, dtype=bool)).reshape(m, *pixels.clean.shape)
    differs = (pixels.clean != pixels.blurred).any(1)  # [views, H, W]
    for k in range(m):
        tile, cell = divmod(k, 16)
        r, c = divmod(cell, G)
        expected = torch.zeros(3, TILE, TILE, dtype=torch.bool)
        expected[tile, r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = True
        # in the thumbnail the 2×1 canvas is squeezed 2× horizontally: a 28 × 14 px footprint
        x0 = (tile * TILE + c * CELL) // 2
        expected[2, r * CELL : (r + 1) * CELL, x0 : x0 + CELL // 2] = True
        changed = (variants[k] != pixels.clean).any(1)
        assert torch.equal(changed, expected & differs), k
        assert torch.equal(variants[k].permute(1, 0, 2, 3)[:, expected], pixels.blurred.permute(1, 0, 2, 3)[:, expected])


def test_prefix_sharing_on_and_off_agree_on_fsyn_coalitions(twin, wide_instance):
    check_prefix_sharing_agrees(twin, wide_instance)


def test_prefix_sharing_is_exact_when_the_prompt_outgrows_the_sliding_window(twin, wide_instance, tmp_path):
    # real prompts stay inside Cohere2's 4096-token window; a 32-token window makes the sliding
    # layers' cache (kept to the window) matter for the shared prefix
    shutil.copytree(twin, tmp_path / "narrow")
    config = json.loads((tmp_path / "narrow" / "config.json").read_text())
    config["text_config"]["sliding_window"] = 32
    (tmp_path / "narrow" / "config.json").write_text(json.dumps(config))
    on, off = load_model(tmp_path / "narrow", prefix_cache=True), load_model(tmp_path / "narrow", prefix_cache=False)
    assert on.model.config.text_config.sliding_window == 32
    prepared = on.prepare(wide_instance)
    assert prepared.layout.input_ids.numel() > 10 * 32
    target = on.make_target(prepared, "a b c")
    rng = np.random.default_rng(1)
    image_keep = rng.random((12, prepared.n_image_units)) < 0.5
    text_keep = rng.random((12, prepared.n_text_units)) < 0.5
    shared = on.game(prepared, target).values(image_keep, text_keep)
    plain = off.game(prepared, target).values(image_keep, text_keep)
    np.testing.assert_allclose(shared, plain, rtol=1e-5, atol=0)


def test_ids_match_the_processors_own_tokenized_chat_template(adapter, wide_instance):
    prepared = adapter.prepare(wide_instance)
    out = own_chat_template(adapter, wide_instance, **adapter.image_processor_kwargs())
    assert out["input_ids"][0].tolist() == prepared.layout.input_ids.tolist()  # one <BOS_TOKEN>, same expansion
    assert torch.equal(out["pixel_values"], prepared.pixels.clean)


def test_cam_reads_each_parallel_blocks_input_norm(adapter):
    blocks = adapter.model.model.language_model.layers
    views = adapter.language_layers
    assert len(views) == len(blocks) == 2
    for view, block in zip(views, blocks):
        assert not hasattr(block, "post_attention_layernorm")  # Cohere2: attention and MLP in parallel
        assert view.post_attention_layernorm is block.input_layernorm and view.block is block


def test_processor_loads_without_torchvision(twin, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # any import of torchvision now fails
    processor = load_processor(twin)
    assert type(processor) is ImageOnlyAyaVisionProcessor
    assert type(processor.image_processor).__name__ == "GotOcr2ImageProcessor"  # the slow one, pinned
    assert (processor.patch_size, processor.img_size) == (28, TILE)
    processor.save_pretrained(tmp_path)
    assert '"processor_class": "AyaVisionProcessor"' in (tmp_path / "processor_config.json").read_text()


def test_default_cap_and_its_option(adapter, twin):
    assert isinstance(adapter, AyaVisionAdapter) and adapter.max_tiles == 2
    assert adapter.image_processor_kwargs() == {"crop_to_patches": True, "max_patches": 2}
    panorama = Instance("aya-panorama", noise_image(600, 150, seed=1), "Is there a cat?")
    assert adapter.prepare(panorama).pixels.clean.shape[0] == 3  # 2 tiles + thumbnail at the cap
    four = load_model(twin, max_tiles=4).prepare(panorama)
    assert four.pixels.clean.shape[0] == 5 and four.unit_grid.shape == (G, 4 * G) and four.n_image_units == 64
    one = load_model(twin, max_tiles=1).prepare(panorama)
    assert one.pixels.clean.shape[0] == 1 and one.n_image_units == 16
    with pytest.raises(ValueError, match="max_tiles"):
        load_model(twin, max_tiles=0)
