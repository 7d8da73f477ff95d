"""Qwen3-VL (``qwen3_vl``) on its tiny twin: layout, units, masking, DeepStack on every path, prefix sharing, caps."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.base import answer_log_prob
from synfaith.models.prompts import build_user_text
from synfaith.models.qwen3_vl import DEFAULT_MAX_PIXELS, ImageOnlyQwen3VLProcessor, Qwen3VLAdapter

from . import _merged_patch_checks
from ._common import (
    check_prefix_sharing_agrees,
    family_fixtures,
    noise_image,
    own_chat_template,
    processor_without_torchvision,
    register_without_torchvision,
)

PX = 32  # patch 16 × merge 2
ROWS, COLS = 4, 6  # the test image: 192×128 px, inside the twin's bounds and a multiple of 32 px: not resized


_one_torch_thread, twin, adapter = family_fixtures("qwen3_vl")


@pytest.fixture(scope="module")
def instance():
    return Instance("q3-choice", noise_image(COLS * PX, ROWS * PX), "Which shape is on the left?", choices=("circle", "square"))


@pytest.fixture(scope="module")
def prepared(adapter, instance):
    return adapter.prepare(instance)


@pytest.fixture(scope="module")
def target(adapter, prepared):
    return adapter.make_target(prepared, "a b c")


def test_prompt_is_the_qwen3_vl_instruct_layout(adapter, instance, prepared):
    assert type(adapter) is Qwen3VLAdapter
    user_text, _ = build_user_text(instance, adapter.answer_cue)
    assert prepared.prompt == (  # no default system prompt, unlike Qwen2/2.5-VL
        f"<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{user_text}<|im_end|>\n<|im_start|>assistant\n"
    )
    tokens = adapter.tokenizer.convert_ids_to_tokens(prepared.layout.input_ids.tolist())
    visual = prepared.layout.visual_positions.tolist()
    assert tokens[: visual[0]] == ["<|im_start|>", "u", "s", "e", "r", "Ċ", "<|vision_start|>"]
    assert tokens[visual[-1] + 1] == "<|vision_end|>" and {tokens[p] for p in visual} == {"<|image_pad|>"}
    query = adapter.tokenizer.decode(prepared.layout.input_ids[prepared.layout.query_positions])
    assert query == "Which shape is on the left?\n(A) circle\n(B) square"
    assert min(prepared.layout.query_positions.tolist()) == visual[-1] + 2
    # the real Qwen3 vocabulary's added tokens, in order, after the 256 bytes
    assert adapter.tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|image_pad|>", "</think>"]) == [256, 268, 281]
    assert adapter.image_token_id == 268 and adapter.pad_token_id == 256


def test_ids_match_the_processors_own_chat_template(adapter, instance, prepared):
    out = own_chat_template(adapter, instance, max_pixels=adapter.max_pixels)
    assert out["input_ids"][0].tolist() == prepared.layout.input_ids.tolist()
    assert torch.equal(out["pixel_values"], prepared.pixels.clean)


def test_units_are_the_merged_tokens_row_major(adapter, prepared):
    assert prepared.image_inputs["image_grid_thw"].tolist() == [[1, 2 * ROWS, 2 * COLS]]
    assert tuple(prepared.pixels.clean.shape) == (4 * ROWS * COLS, 3 * 2 * 16 * 16)
    visual = prepared.layout.visual_positions
    assert visual.numel() == ROWS * COLS == prepared.n_image_units
    assert (visual[1:] - visual[:-1]).eq(1).all()
    assert prepared.unit_grid.tolist() == np.arange(ROWS * COLS).reshape(ROWS, COLS).tolist()
    assert torch.equal(prepared.token_units, torch.eye(ROWS * COLS))
    # interleaved M-RoPE: image token k at (h, w) = (k // cols, k % cols) after the text before it
    position_ids = adapter.language_model_inputs(prepared.layout.input_ids[None], prepared.image_inputs)["position_ids"]
    t, h, w = (position_ids[i, 0, visual] - position_ids[i, 0, visual[0]] for i in range(3))
    k = torch.arange(ROWS * COLS)
    assert t.eq(0).all() and torch.equal(h, k // COLS) and torch.equal(w, k % COLS)


def _as_image(adapter, pixel_rows: torch.Tensor) -> torch.Tensor:
    """Pixel rows [4·R·C, 3·2·16·16] back to the (3, 2 frames, H, W) image they were cut from."""
    return pixel_rows.reshape(ROWS, COLS, 2, 2, 3, 2, 16, 16).permute(4, 5, 0, 2, 6, 1, 3, 7).reshape(3, 2, ROWS * PX, COLS * PX)


def test_pixel_rows_of_unit_k_are_the_32px_block_of_cell_k(adapter):
    assert (_merged_patch_checks.ROWS, _merged_patch_checks.COLS) == (ROWS, COLS)
    _merged_patch_checks.check_pixel_rows_of_unit_k_are_cell_k(adapter, px=PX)


def test_masking_unit_k_changes_exactly_its_32px_square_in_both_frames(adapter, prepared):
    pixels = prepared.pixels
    m = prepared.n_image_units
    variants = pixels.masked(~np.eye(m, dtype=bool)).reshape(m, *pixels.clean.shape)
    clean, blurred = _as_image(adapter, pixels.clean), _as_image(adapter, pixels.blurred)
    for k in range(m):
        r, c = divmod(k, COLS)
        square = torch.zeros(ROWS * PX, COLS * PX, dtype=torch.bool)
        square[r * PX : (r + 1) * PX, c * PX : (c + 1) * PX] = True
        variant = _as_image(adapter, variants[k])
        changed = (variant != clean).any(0).any(0)
        assert changed.any() and not changed[~square].any()
        assert torch.equal(variant[:, :, square], blurred[:, :, square])


def test_image_features_carry_the_deepstack_levels_of_each_variant(adapter, prepared):
    width, levels = adapter.text_width, adapter.deepstack_levels
    assert levels == 2
    grid = prepared.image_inputs["image_grid_thw"]
    with torch.no_grad():
        merged, deepstack = adapter.model.get_image_features(prepared.pixels.blurred, grid)
        keep = np.ones((2, prepared.n_image_units), bool)
        keep[1, ::3] = False
        features = adapter.image_features(prepared.pixels.masked(keep), 2, prepared.image_inputs)
    assert features.shape == (2, ROWS * COLS, width * (1 + levels))
    # variant 1, computed alone from its own pixels, is the same block of the batched result
    with torch.no_grad():
        alone = adapter.image_features(prepared.pixels.masked(keep[1:]), 1, prepared.image_inputs)
    torch.testing.assert_close(features[1:], alone, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        blurred = adapter.image_features(prepared.pixels.blurred, 1, prepared.image_inputs)[0]
    torch.testing.assert_close(blurred[:, :width], merged[0], rtol=0, atol=0)
    for j in range(levels):
        torch.testing.assert_close(blurred[:, width * (j + 1) : width * (j + 2)], deepstack[j], rtol=0, atol=0)


def _own_forward_value(adapter, prepared, target, pixels):
    ids = adapter.sequence_ids(prepared, target)[None]
    with torch.inference_mode():
        logits = adapter.model(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, use_cache=False, **prepared.image_inputs
        ).logits
    return float(torch.exp(answer_log_prob(logits, target))[0])


def test_every_path_feeds_the_masked_images_deepstack_features(twin, adapter, prepared, target):
    """Game (prefix sharing on and off) and white-box values equal the model's own forward pass with
    the masked pixels, which runs DeepStack itself; without DeepStack the value differs."""
    m = prepared.n_image_units
    keep = np.ones((1, m), bool)
    keep[0, 5:15] = False
    reference = _own_forward_value(adapter, prepared, target, prepared.pixels.masked(keep))
    for share in (True, False):
        values = load_model(twin, prefix_cache=share).target_probabilities(prepared, target, keep, np.ones((1, prepared.n_text_units), bool))
        np.testing.assert_allclose(values, [reference], rtol=1e-5)
    with torch.inference_mode():
        embeds, ids = adapter.embedded_inputs(prepared, target, prepared.pixels.masked(keep))
        white_box = float(torch.exp(answer_log_prob(adapter.forward_embeddings(embeds, ids, prepared).logits, target))[0])
        embeds[..., adapter.text_width :] = 0  # the same embeddings without their DeepStack features
        without = float(torch.exp(answer_log_prob(adapter.forward_embeddings(embeds, ids, prepared).logits, target))[0])
    np.testing.assert_allclose(white_box, reference, rtol=1e-5)
    assert abs(without - reference) > 1e-3 * reference


def test_gradients_reach_the_pixels_through_the_tokens_and_through_deepstack(adapter, prepared, target):
    width = adapter.text_width
    grads = {}
    for path in ("tokens", "deepstack"):
        pixels = prepared.pixels.clean.clone().requires_grad_()
        embeds, ids = adapter.embedded_inputs(prepared, target, pixel_values=pixels)
        mask = torch.zeros(embeds.shape[-1], dtype=torch.bool)
        mask[:width] = path == "tokens"
        mask[width:] = path == "deepstack"
        embeds = torch.where(mask, embeds, embeds.detach())  # the gradient flows through one path only
        score = answer_log_prob(adapter.forward_embeddings(embeds, ids, prepared).logits, target).sum()
        (grads[path],) = torch.autograd.grad(score, pixels)
    for path, grad in grads.items():
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, path
    assert not torch.allclose(grads["tokens"], grads["deepstack"])


def test_hidden_states_end_with_the_final_norm(adapter, prepared, target):
    with torch.inference_mode():
        embeds, ids = adapter.embedded_inputs(prepared, target)
        out = adapter.forward_embeddings(embeds, ids, prepared, output_hidden_states=True)
        logits = adapter.model.lm_head(out.hidden_states[-1])
    assert len(out.hidden_states) == len(adapter.language_layers) + 1
    torch.testing.assert_close(logits, out.logits, rtol=1e-5, atol=1e-5)


def test_prefix_sharing_agrees_on_fsyn_coalitions_with_a_long_answer(twin, instance):
    check_prefix_sharing_agrees(twin, instance)


register_without_torchvision(
    "qwen3_vl",
    "ip = p.image_processor\n"
    "print(type(p).__name__, type(ip).__name__, ip.patch_size, ip.merge_size, ip.min_pixels, ip.max_pixels, ip.image_mean)\n"
)


def test_processor_loads_without_torchvision(twin, tmp_path_factory):
    expected = ["ImageOnlyQwen3VLProcessor", "Qwen2VLImageProcessor", "16", "2", "16384", "262144", "[0.5,", "0.5,", "0.5]"]
    assert processor_without_torchvision(tmp_path_factory, "qwen3_vl").split() == expected
    with open(twin / "preprocessor_config.json", encoding="utf-8") as f:
        assert json.load(f)["processor_class"] == "Qwen3VLProcessor"  # the directory still names the stock class


def test_real_size_only_bounds_are_honoured(twin, tmp_path):
    """A real checkpoint's preprocessor_config gives only ``size``; the slow class's init would drop it."""
    copy = tmp_path / "real-style"
    shutil.copytree(twin, copy)
    path = copy / "preprocessor_config.json"
    config = json.loads(path.read_text())
    config.pop("min_pixels"), config.pop("max_pixels")
    config["size"] = {"shortest_edge": 65536, "longest_edge": 16777216}
    path.write_text(json.dumps(config))
    image_processor = ImageOnlyQwen3VLProcessor.from_pretrained(str(copy)).image_processor
    assert (image_processor.min_pixels, image_processor.max_pixels) == (65536, 16777216)
    grid = image_processor(images=Image.new("RGB", (64, 64)))["image_grid_thw"]
    assert grid.tolist() == [[1, 16, 16]]  # 64 px upsampled to 256²: 8×8 merged tokens, as the real one


def test_default_cap_is_300_cells_of_32px(adapter):
    assert DEFAULT_MAX_PIXELS == 307200 and adapter.max_pixels == DEFAULT_MAX_PIXELS and adapter.min_pixels is None
    assert adapter.image_processor_kwargs() == {"max_pixels": 307200}
    for size in ((1000, 750), (2000, 2000), (640, 480)):
        grid = adapter.processor.image_processor(images=Image.new("RGB", size), **adapter.image_processor_kwargs())["image_grid_thw"]
        _, h, w = grid[0].tolist()
        assert h % 2 == 0 and w % 2 == 0 and (h // 2) * (w // 2) <= 300
    assert grid[0].tolist() == [1, 30, 40]  # 640×480 fits exactly: 15×20 merged tokens
