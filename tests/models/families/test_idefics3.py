"""Idefics3 (``idefics3``) on its tiny twin: prompt and tile layout, pixel-shuffle order, units and the
global image, masking in every view, prefix sharing, processor and caps."""


import pytest
import torch

from synfaith.models.idefics3 import DEFAULT_LONGEST_EDGE_TILES, Idefics3Adapter, ImageOnlyIdefics3Processor
from synfaith.testing.families.idefics3 import CHAT_TEMPLATE, RECIPE, SPECIAL_TOKENS
from tests.models.families._idefics3_checks import (
    check_masking_every_view,
    check_pixel_shuffle_order,
    check_prefix_sharing,
    check_units_and_views,
    geometry,
    instance,
)
from ._common import family_fixtures, processor_without_torchvision, register_without_torchvision


_one_torch_thread, twin, adapter = family_fixtures("idefics3")


@pytest.fixture(scope="module")
def square(adapter):
    return adapter.prepare(instance(64, 64))


def test_twin_mirrors_the_real_layout(adapter, square):
    tok = adapter.tokenizer
    assert [tok.convert_tokens_to_ids(t) for t, _ in SPECIAL_TOKENS] == list(range(256, 256 + len(SPECIAL_TOKENS)))
    assert adapter.image_token_id == tok.convert_tokens_to_ids("<image>")
    assert tok.pad_token == "<|reserved_special_token_0|>" and adapter.model.config.pad_token_id == tok.pad_token_id
    tile, g, cell = geometry(adapter)
    assert (tile, adapter.model.config.vision_config.patch_size, adapter.model.config.scale_factor) == (56, 14, 2)
    assert adapter.processor.image_seq_len == g * g == 4 and cell == 28  # real: 169 tokens per 364 px tile, 28 px cells
    assert adapter.processor.chat_template == CHAT_TEMPLATE
    assert square.prompt == "<|begin_of_text|>User:<image>Which shape is on the left?\n(A) circle\n(B) square\n" + (
        "Answer directly with only the letter inside parentheses, and nothing else.<end_of_utterance>\nAssistant:"
    )
    tokens = tok.convert_ids_to_tokens(square.layout.input_ids.tolist())
    assert tokens[:2] == ["<|begin_of_text|>"] * 2  # the template's BOS and the tokenizer's, as the real checkpoint
    # <row_i_col_j> and <global-img> are text in the Llama-3 vocabulary, not tokens
    assert "<global-img>" not in tok.get_vocab() and "<row_1_col_1>" not in tok.get_vocab()
    assert len(tok("<row_1_col_1>", add_special_tokens=False)["input_ids"]) > 1
    assert RECIPE.twin_of == "HuggingFaceM4/Idefics3-8B-Llama3"


def test_units_are_the_token_cells_of_the_tiles(adapter, square):
    check_units_and_views(adapter, square, rows=2, cols=2)  # a square image at the default cap: 2×2 tiles
    wide = adapter.prepare(instance(130, 60))  # longest edge → 112 px: a 1×2 canvas of 56 px tiles
    check_units_and_views(adapter, wide, rows=1, cols=2)
    # in a 1×2 canvas every global token (28 px) covers 28 × 56 canvas px: two cells of one row
    g = geometry(adapter)[1]
    n_units = wide.n_image_units
    for k in range(g * g):
        covered = torch.nonzero(wide.token_units[n_units + k]).flatten().tolist()
        assert len(covered) == 2 and covered[1] - covered[0] == 1


def test_pixel_shuffle_token_order(adapter, square):
    check_pixel_shuffle_order(adapter, square)


def test_masking_a_unit_changes_exactly_its_pixels_in_every_view(adapter, square):
    check_masking_every_view(square)
    check_masking_every_view(adapter.prepare(instance(130, 60)))


def test_prefix_sharing_matches_the_full_forward(adapter, square):
    check_prefix_sharing(Idefics3Adapter, adapter, square)


register_without_torchvision(
    "idefics3",
    "from PIL import Image\n"
    "assert type(p).__name__ == 'ImageOnlyIdefics3Processor', type(p)\n"
    "assert type(p.image_processor).__name__ == 'Idefics3ImageProcessor', type(p.image_processor)\n"
    "out = p(images=Image.new('RGB', (64, 48)), text='<image>hi', return_tensors='pt')\n"
    "assert out['pixel_values'].ndim == 5 and 'pixel_attention_mask' in out\n"
)


def test_processor_loads_without_torchvision(twin, tmp_path_factory):
    processor_without_torchvision(tmp_path_factory, "idefics3")
    assert '"processor_class": "Idefics3Processor"' in (twin / "processor_config.json").read_text()
    assert ImageOnlyIdefics3Processor.image_processor_class == "Idefics3ImageProcessor"


def test_default_caps_and_options(adapter):
    tile = adapter.tile_size
    assert adapter.longest_edge_tiles == DEFAULT_LONGEST_EDGE_TILES == 2
    assert adapter.image_processor_kwargs() == {"size": {"longest_edge": 2 * tile}}
    assert adapter.processor.image_processor.size == {"longest_edge": 4 * tile}  # the checkpoint's own 4·S is overridden
    big = adapter.prepare(instance(400, 300))
    assert big.pixels.clean.shape[1] == 2 * 2 + 1  # at most 2×2 tiles + the global image
    one = Idefics3Adapter(adapter.model, adapter.processor, longest_edge_tiles=1)
    check_units_and_views(one, one.prepare(instance(400, 300)), rows=0, cols=0)  # fits one tile: no split
    unsplit = Idefics3Adapter(adapter.model, adapter.processor, image_splitting=False)
    prepared = unsplit.prepare(instance(400, 300))
    check_units_and_views(unsplit, prepared, rows=0, cols=0)  # do_image_splitting=False: one S×S view
    assert adapter.processor.image_processor.do_image_splitting  # the option does not touch the caller's processor
    with pytest.raises(ValueError, match="longest_edge_tiles"):
        Idefics3Adapter(adapter.model, adapter.processor, longest_edge_tiles=0)
