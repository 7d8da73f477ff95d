"""SmolVLM2 (``smolvlm``) on its tiny twin: the image-only processor against the stock prompt expansion,
tile layout, pixel-shuffle order, the unseen margin, masking in every view, prefix sharing, caps."""

import ast
import inspect
from types import SimpleNamespace

import pytest
import torch

import transformers.models.idefics3.processing_idefics3 as idefics3_processing
from synfaith.models.pixels import NO_UNIT
from synfaith.models.smolvlm import ImageOnlySmolVLMProcessor, SmolVLMAdapter, image_prompt_string
from synfaith.testing.families.smolvlm import CHAT_TEMPLATE, SPECIAL_TOKENS
from tests.models.families._idefics3_checks import (
    check_masking_every_view,
    check_pixel_shuffle_order,
    check_prefix_sharing,
    check_units_and_views,
    geometry,
    instance,
)
from ._common import family_fixtures, processor_without_torchvision, register_without_torchvision


_one_torch_thread, twin, adapter = family_fixtures("smolvlm")


@pytest.fixture(scope="module")
def square(adapter):
    return adapter.prepare(instance(64, 64))


def _stock_smolvlm_code() -> dict:
    """The stock ``processing_smolvlm`` prompt-expansion code, compiled from its source file.

    The module cannot be imported here (it imports the torchvision video processor), so its
    three prompt functions and ``SmolVLMProcessor.expand_text_with_image_tokens`` are taken
    from the file as they are and run on their own.
    """
    path = inspect.getfile(idefics3_processing).replace("idefics3/processing_idefics3.py", "smolvlm/processing_smolvlm.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = {"_prompt_split_image", "_prompt_single_image", "get_image_prompt_string"}
    body = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    processor = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "SmolVLMProcessor")
    body += [node for node in processor.body if isinstance(node, ast.FunctionDef) and node.name == "expand_text_with_image_tokens"]
    assert len(body) == 4
    namespace: dict = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), namespace)  # noqa: S102 - transformers' own code
    return namespace


def test_prompt_expansion_matches_the_stock_processor_code(adapter):
    stock = _stock_smolvlm_code()
    processor = adapter.processor
    fake_self = SimpleNamespace(
        image_seq_len=processor.image_seq_len,
        image_token=processor.image_token,
        fake_image_token=processor.fake_image_token,
        global_image_token=processor.global_image_token,
    )
    prompt = adapter.render_prompt("Is it red?")
    for rows, cols in [(0, 0), (1, 1), (1, 2), (2, 1), (2, 2), (3, 4)]:
        expected = stock["expand_text_with_image_tokens"](fake_self, [prompt], [[rows]], [[cols]])
        assert processor.expand_text_with_image_tokens([prompt], [[rows]], [[cols]]) == expected
        assert image_prompt_string(rows, cols, 4, "<f>", "<i>", "<g>") == stock["get_image_prompt_string"](rows, cols, 4, "<f>", "<i>", "<g>")
    # the whole call: the ids of the stock expansion of the processor's own rows/cols
    image = instance(64, 64).load_image()
    out = processor(images=image, text=prompt, return_tensors="pt", **adapter.image_processor_kwargs())
    info = processor.image_processor(images=[[image]], return_row_col_info=True, **adapter.image_processor_kwargs())
    expanded = stock["expand_text_with_image_tokens"](fake_self, [prompt], info["rows"], info["cols"])
    assert out["input_ids"][0].tolist() == processor.tokenizer(expanded)["input_ids"][0]
    assert torch.equal(out["pixel_values"], torch.as_tensor(processor.image_processor(images=image, return_tensors="pt", **adapter.image_processor_kwargs())["pixel_values"]))
    with pytest.raises(ValueError, match="images only"):
        processor(text=prompt, videos=[[image]])


def test_twin_mirrors_the_real_layout(adapter, square):
    tok = adapter.tokenizer
    assert [tok.convert_tokens_to_ids(t) for t, _ in SPECIAL_TOKENS] == list(range(256, 256 + len(SPECIAL_TOKENS)))
    # real ids: <global-img> 49152, <row_1_col_1> 49153 … <row_6_col_6> 49188, <fake…> 49189, <image> 49190
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<global-img>", "<row_1_col_1>", "<row_6_col_6>", "<fake_token_around_image>", "<image>")}
    assert [ids[t] - ids["<global-img>"] for t in ids] == [0, 1, 36, 37, 38]
    assert len(tok("<row_2_col_1>", add_special_tokens=False)["input_ids"]) == 1  # single added tokens, unlike Idefics3
    tile, g, cell = geometry(adapter)
    assert (tile, adapter.model.config.vision_config.patch_size, adapter.model.config.scale_factor) == (90, 14, 3)
    assert adapter.processor.image_seq_len == g * g == 4 and cell == 42  # real: 81 tokens per 384 px tile, 42 px cells
    assert adapter.processor.chat_template == CHAT_TEMPLATE
    assert square.prompt.startswith("<|im_start|>User:<image>Which shape is on the left?")
    assert square.prompt.endswith("<end_of_utterance>\nAssistant:")
    assert tok.convert_ids_to_tokens(square.layout.input_ids.tolist())[:3] == ["<|im_start|>", "U", "s"]  # no BOS added


def test_units_are_the_token_cells_of_the_tiles(adapter, square):
    check_units_and_views(adapter, square, rows=2, cols=2)
    check_units_and_views(adapter, adapter.prepare(instance(60, 130)), rows=2, cols=1)


def test_pixel_shuffle_token_order(adapter, square):
    check_pixel_shuffle_order(adapter, square)


def test_the_unseen_margin_belongs_to_no_unit(adapter, square):
    tile, g, cell = geometry(adapter)  # 90 px = 6 patches of 14 + 6 px the vision tower never sees
    index = square.pixels.unit_index[0, :, 0]  # [views, S, S]
    assert g * cell == 84 < tile
    assert bool((index[:, 84:, :] == NO_UNIT).all()) and bool((index[:, :, 84:] == NO_UNIT).all())
    assert bool((index[:, :84, :84] >= 0).all())
    # the margin's pixels do not reach the model: changing them leaves the image features unchanged
    pixels = square.pixels.clean.clone()
    pixels[..., 84:, :] = 0.5
    with torch.inference_mode():
        before = adapter.image_features(square.pixels.clean, 1, square.image_inputs)
        after = adapter.image_features(pixels, 1, square.image_inputs)
    assert torch.equal(before, after)


def test_masking_a_unit_changes_exactly_its_pixels_in_every_view(adapter, square):
    check_masking_every_view(square)


def test_prefix_sharing_matches_the_full_forward(adapter, square):
    check_prefix_sharing(SmolVLMAdapter, adapter, square)


register_without_torchvision(
    "smolvlm",
    "from PIL import Image\n"
    "assert type(p).__name__ == 'ImageOnlySmolVLMProcessor', type(p)\n"
    "assert type(p.image_processor).__name__ == 'SmolVLMImageProcessor', type(p.image_processor)\n"
    "out = p(images=Image.new('RGB', (64, 48)), text='<image>hi', return_tensors='pt')\n"
    "assert out['pixel_values'].ndim == 5 and 'pixel_attention_mask' in out\n"
    "assert 'transformers.models.smolvlm.processing_smolvlm' not in sys.modules\n"
)


def test_processor_loads_without_torchvision(twin, tmp_path_factory):
    processor_without_torchvision(tmp_path_factory, "smolvlm")
    assert '"processor_class": "SmolVLMProcessor"' in (twin / "processor_config.json").read_text()
    assert ImageOnlySmolVLMProcessor.attributes == ["image_processor", "tokenizer"]


def test_default_caps_and_options(adapter):
    tile = adapter.tile_size
    assert adapter.longest_edge_tiles == 2
    assert adapter.image_processor_kwargs() == {"size": {"longest_edge": 2 * tile}}
    assert adapter.processor.image_processor.size == {"longest_edge": 4 * tile}
    assert adapter.prepare(instance(400, 300)).pixels.clean.shape[1] == 2 * 2 + 1
    unsplit = SmolVLMAdapter(adapter.model, adapter.processor, image_splitting=False)
    check_units_and_views(unsplit, unsplit.prepare(instance(400, 300)), rows=0, cols=0)


def test_real_tile_geometry(adapter):
    """At the real 384 px tiles (27 patches + a 6 px margin, shuffle 3): 9×9 = 81 tokens of 42 px per tile."""
    from synfaith.testing.families.smolvlm import processor as build_processor

    real = build_processor(adapter.tokenizer, {"tile_size": 384, "image_seq_len": 81, "longest_edge": 4 * 384})
    at_scale = SmolVLMAdapter(adapter.model, real)
    assert geometry(at_scale) == (384, 9, 42)
    prepared = at_scale.prepare(instance(500, 180))  # longest edge → 768 px, height 276 → 384: a 1×2 canvas
    check_units_and_views(at_scale, prepared, rows=1, cols=2)
    index = prepared.pixels.unit_index[0, :, 0]
    assert bool((index[:, 378:] == NO_UNIT).all()) and int(index[0, :378, :378].max()) == 80
    for k in (0, 80, 81, 161):  # corner cells of both tiles: each owns 42×42 px of its tile and pixels of the global image
        assert int((index[k // 81] == k).sum()) == 42 * 42 and bool((index[2] == k).any())
