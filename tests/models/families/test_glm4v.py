"""GLM-4.1V (``glm4v``) on its tiny twin: token layout, answer cue, units, masking, prefix sharing, caps."""

import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.answers import UnparseableAnswerError, YesNo
from synfaith.models.glm4v import AfterMarker, Glm4vAdapter, ImageOnlyGlm4vProcessor
from synfaith.models.processors import load_processor
from synfaith.models.prompts import build_user_text

from . import _merged_patch_checks as checks
from ._common import check_prefix_sharing_agrees, family_fixtures, own_chat_template, register_without_torchvision


_one_torch_thread, twin, adapter = family_fixtures("glm4v")


@pytest.fixture(scope="module")
def instance():
    # 168×112 px: inside the twin's bounds and a multiple of 28 px, so not resized: 6×4 merged tokens
    return Instance("glm-choice", checks.noise_image(), "Which shape is on the left?", choices=("circle", "square"))


@pytest.fixture(scope="module")
def prepared(adapter, instance):
    return adapter.prepare(instance)


def test_prompt_is_the_glm_layout_with_the_no_thinking_cue(adapter, instance, prepared):
    user_text, _ = build_user_text(instance, adapter.answer_cue)
    assert prepared.prompt == (
        f"[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>{user_text}<|assistant|>\n<think></think><answer>"
    )
    tokens = adapter.tokenizer.convert_ids_to_tokens(prepared.layout.input_ids.tolist())
    assert tokens[:3] == ["[gMASK]", "<sop>", "<|user|>"]  # no BOS of the tokenizer's own
    assert tokens[-12:-10] == ["<|assistant|>", "\u010a"]  # "<|assistant|>\n" (byte-level newline)
    assert tokens[-10:-8] == ["<think>", "</think>"] and "".join(tokens[-8:]) == "<answer>"  # one token each, then text
    visual = prepared.layout.visual_positions.tolist()
    assert tokens[visual[0] - 1] == "<|begin_of_image|>" and tokens[visual[-1] + 1] == "<|end_of_image|>"
    assert {tokens[p] for p in visual} == {"<|image|>"}
    query = adapter.tokenizer.decode(prepared.layout.input_ids[prepared.layout.query_positions])
    assert query == "Which shape is on the left?\n(A) circle\n(B) square"
    assert min(prepared.layout.query_positions.tolist()) == visual[-1] + 2  # the question follows <|end_of_image|>
    assert adapter.model.generation_config.eos_token_id == adapter.tokenizer.convert_tokens_to_ids(
        ["<|endoftext|>", "<|user|>", "<|observation|>"]
    )


def test_ids_match_the_processors_own_chat_template(adapter, instance, prepared):
    out = own_chat_template(adapter, instance, **adapter.image_processor_kwargs())
    cue = adapter.tokenizer("<think></think><answer>", add_special_tokens=False)["input_ids"]
    assert out["input_ids"][0].tolist() + cue == prepared.layout.input_ids.tolist()
    assert torch.equal(out["pixel_values"], prepared.pixels.clean)


def test_thinking_mode_reasons_first_and_parses_after_the_answer_tag(twin, instance):
    thinking = load_model(twin, thinking=True)
    assert thinking.max_new_tokens == 8192
    assert thinking.prepare(instance).prompt.endswith("<|assistant|>\n")
    marker = AfterMarker(YesNo(), "<answer>")
    response = "Is it no? Yes, I see it.</think><answer>No</answer>"
    parsed = marker.parse(response)
    assert parsed.answer == "no" and response[parsed.start : parsed.end] == "No"
    with pytest.raises(UnparseableAnswerError, match="after '<answer>'"):
        marker.parse("yes, still thinking")
    short = load_model(twin, thinking=True, max_new_tokens=3)  # reasoning cut off: no answer yet
    with pytest.raises(UnparseableAnswerError, match="after '<answer>'"):
        short.generate_target(short.prepare(instance))


def test_units_are_the_merged_tokens_row_major(adapter, prepared):
    checks.check_units_are_the_merged_tokens(adapter, prepared)


def test_pixel_rows_of_unit_k_are_the_28px_block_of_cell_k(adapter):
    checks.check_pixel_rows_of_unit_k_are_cell_k(adapter)


def test_the_downsample_turns_rows_4k_to_4k_plus_3_into_token_k(adapter, prepared):
    visual = adapter.vision_tower
    d = adapter.model.config.vision_config.hidden_size
    n = prepared.pixels.clean.shape[0]
    seen = {}
    hooks = [
        visual.post_layernorm.register_forward_hook(lambda m, args, out: torch.arange(n, dtype=out.dtype)[:, None].repeat(1, d)),
        visual.downsample.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0])),
    ]
    try:
        with torch.no_grad():
            features = adapter.image_features(prepared.pixels.clean, 1, prepared.image_inputs)
    finally:
        for hook in hooks:
            hook.remove()
    assert features.shape[1] == n // 4
    groups = seen["x"][:, 0].reshape(n // 4, 4).long()  # [tokens, C, 2, 2] -> the 2×2 block of each
    assert torch.equal(groups, torch.arange(n).reshape(n // 4, 4))


def test_masking_unit_k_changes_exactly_its_rows(prepared):
    checks.check_masking_unit_k_changes_exactly_its_rows(prepared)


def test_prefix_sharing_on_and_off_agree_on_fsyn_coalitions(twin, instance):
    check_prefix_sharing_agrees(twin, instance)


register_without_torchvision("glm4v", checks.NO_TORCHVISION_CODE)


def test_processor_loads_without_torchvision(twin, tmp_path, tmp_path_factory):
    checks.check_processor_loads_without_torchvision(tmp_path_factory, "glm4v", ["ImageOnlyGlm4vProcessor", "Glm4vImageProcessor"])
    processor = load_processor(twin)
    assert isinstance(processor, ImageOnlyGlm4vProcessor)
    processor.save_pretrained(tmp_path)
    assert '"processor_class": "Glm4vProcessor"' in (tmp_path / "preprocessor_config.json").read_text()


def test_default_cap_is_the_papers_qwen_cap_per_image(adapter, twin):
    assert isinstance(adapter, Glm4vAdapter) and adapter.max_pixels == 313600
    # the processor's bounds count both temporal copies of a still image
    assert adapter.image_processor_kwargs() == {"size": {"shortest_edge": 2 * 112 * 112, "longest_edge": 2 * 313600}}
    big = Instance("glm-big", checks.noise_image(1000, 1000, seed=1), "Is there a cat?")
    prepared = adapter.prepare(big)  # 1000² > 313600: shrunk to 560×560, 20×20 merged tokens
    assert prepared.image_inputs["image_grid_thw"].tolist() == [[1, 40, 40]]
    assert prepared.n_image_units == 400 and prepared.unit_grid.shape == (20, 20)
    small = load_model(twin, max_pixels=112 * 112)
    assert small.image_processor_kwargs()["size"]["longest_edge"] == 2 * 112 * 112
    assert small.prepare(big).n_image_units == 16
    # without a cap the checkpoint's own bounds apply (the twin's 224² per image)
    assert load_model(twin, max_pixels=None).prepare(big).n_image_units == 64
