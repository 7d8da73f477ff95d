"""Qwen2-VL (``qwen2_vl``) on its tiny twin: token layout, units, masking, prefix sharing, caps."""

import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.processors import load_processor
from synfaith.models.prompts import build_user_text
from synfaith.models.qwen2_vl import ImageOnlyQwen2VLProcessor, Qwen2VLAdapter

from . import _merged_patch_checks as checks
from ._common import check_prefix_sharing_agrees, family_fixtures, own_chat_template, register_without_torchvision


_one_torch_thread, twin, adapter = family_fixtures("qwen2_vl")


@pytest.fixture(scope="module")
def instance():
    # 168×112 px: inside the twin's bounds and a multiple of 28 px, so not resized: 6×4 merged tokens
    return Instance("q2-choice", checks.noise_image(), "Which shape is on the left?", choices=("circle", "square"))


@pytest.fixture(scope="module")
def prepared(adapter, instance):
    return adapter.prepare(instance)


def test_prompt_is_the_qwen2_vl_instruct_layout(adapter, instance, prepared):
    user_text, _ = build_user_text(instance, adapter.answer_cue)
    assert prepared.prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"<|vision_start|><|image_pad|><|vision_end|>{user_text}<|im_end|>\n<|im_start|>assistant\n"
    )
    tokens = adapter.tokenizer.convert_ids_to_tokens(prepared.layout.input_ids.tolist())
    visual = prepared.layout.visual_positions.tolist()
    assert tokens[visual[0] - 1] == "<|vision_start|>" and tokens[visual[-1] + 1] == "<|vision_end|>"
    assert {tokens[p] for p in visual} == {"<|image_pad|>"}
    query = adapter.tokenizer.decode(prepared.layout.input_ids[prepared.layout.query_positions])
    assert query == "Which shape is on the left?\n(A) circle\n(B) square"
    assert min(prepared.layout.query_positions.tolist()) == visual[-1] + 2  # the question follows <|vision_end|>


def test_ids_match_the_processors_own_chat_template(adapter, instance, prepared):
    out = own_chat_template(adapter, instance, max_pixels=adapter.max_pixels)
    assert out["input_ids"][0].tolist() == prepared.layout.input_ids.tolist()
    assert torch.equal(out["pixel_values"], prepared.pixels.clean)


def test_units_are_the_merged_tokens_row_major(adapter, prepared):
    checks.check_units_are_the_merged_tokens(adapter, prepared)


def test_pixel_rows_of_unit_k_are_the_28px_block_of_cell_k(adapter):
    checks.check_pixel_rows_of_unit_k_are_cell_k(adapter)


def test_the_merger_turns_rows_4k_to_4k_plus_3_into_token_k(adapter):
    visual = adapter.vision_tower
    assert type(visual).__name__ == "Qwen2VisionTransformerPretrainedModel"  # no window attention
    assert not hasattr(visual, "fullatt_block_indexes")
    merger = adapter.projector
    d = adapter.model.config.vision_config.embed_dim
    n = 4 * checks.ROWS * checks.COLS
    seen = {}
    hooks = [
        merger.ln_q.register_forward_hook(lambda m, args, out: torch.arange(n, dtype=out.dtype)[:, None].repeat(1, d)),
        merger.mlp.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0])),
    ]
    try:
        with torch.no_grad():
            merger(torch.zeros(n, d))
    finally:
        for hook in hooks:
            hook.remove()
    groups = seen["x"].reshape(n // 4, 4, d)[:, :, 0].long()
    assert torch.equal(groups, torch.arange(n).reshape(n // 4, 4))


def test_masking_unit_k_changes_exactly_its_rows(prepared):
    checks.check_masking_unit_k_changes_exactly_its_rows(prepared)


def test_prefix_sharing_on_and_off_agree_on_fsyn_coalitions(twin, instance):
    check_prefix_sharing_agrees(twin, instance)


register_without_torchvision("qwen2_vl", checks.NO_TORCHVISION_CODE)


def test_processor_loads_without_torchvision(twin, tmp_path, tmp_path_factory):
    checks.check_processor_loads_without_torchvision(tmp_path_factory, "qwen2_vl", ["ImageOnlyQwen2VLProcessor", "Qwen2VLImageProcessor"])
    processor = load_processor(twin)
    assert isinstance(processor, ImageOnlyQwen2VLProcessor)
    processor.save_pretrained(tmp_path)
    assert '"processor_class": "Qwen2VLProcessor"' in (tmp_path / "preprocessor_config.json").read_text()


def test_default_cap_is_the_papers_qwen_cap(adapter, twin):
    assert isinstance(adapter, Qwen2VLAdapter) and adapter.max_pixels == 313600
    assert adapter.image_processor_kwargs() == {"max_pixels": 313600}
    big = Instance("q2-big", checks.noise_image(1000, 1000, seed=1), "Is there a cat?")
    prepared = adapter.prepare(big)  # 1000² > 313600: shrunk to 560×560, 20×20 merged tokens
    assert prepared.image_inputs["image_grid_thw"].tolist() == [[1, 40, 40]]
    assert prepared.n_image_units == 400 and prepared.unit_grid.shape == (20, 20)
    small = load_model(twin, max_pixels=112 * 112).prepare(big)
    assert small.n_image_units == 16
    # without a cap the checkpoint's own bound applies (the twin's 224²)
    assert load_model(twin, max_pixels=None).prepare(big).n_image_units == 64
