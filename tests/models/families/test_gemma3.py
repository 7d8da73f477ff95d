"""Gemma 3 (``gemma3``) on its tiny twin: token layout, pooled units, masking, bidirectional image
attention, prefix sharing, processor and caps."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models.base import answer_log_prob
from synfaith.models.gemma3 import Gemma3Adapter
from synfaith.models.prompts import PromptLayoutError
from synfaith.testing.families.gemma3 import RECIPE

from ._common import (
    check_masking_unit_k_changes_exactly_its_square,
    check_prefix_sharing_agrees,
    family_fixtures,
    full_and_random_coalitions,
    masked_variant,
    noise_image,
    processor_without_torchvision,
    register_without_torchvision,
)

CELL = 56  # px per pooled token: 14 px patches pooled 4×4, as in the real model
G = 4  # the twin's 224 px view: 4×4 pooled tokens


_one_torch_thread, twin, adapter = family_fixtures("gemma3")


@pytest.fixture(scope="module")
def instance():
    image = noise_image(200, 150)  # not square: resized, not cropped
    return Instance("g3-choice", image, "Which shape is on the left?", choices=("circle", "square"))


@pytest.fixture(scope="module")
def prepared(adapter, instance):
    return adapter.prepare(instance)


def test_prompt_layout_and_units_are_the_pooled_tokens(adapter, prepared):
    tok = adapter.tokenizer
    ids = prepared.layout.input_ids
    tokens = tok.convert_ids_to_tokens(ids.tolist())
    assert tokens[0] == "<bos>" and tokens.count("<bos>") == 1  # the template's <bos> is not doubled
    assert prepared.prompt.startswith("<start_of_turn>user\n<start_of_image>Which shape")
    assert prepared.prompt.endswith("nothing else.<end_of_turn>\n<start_of_turn>model\n")
    visual = prepared.layout.visual_positions
    assert visual.numel() == G * G and prepared.n_image_units == G * G
    assert (visual[1:] - visual[:-1]).eq(1).all()
    assert tokens[int(visual[0]) - 1] == "<start_of_image>" and tokens[int(visual[-1]) + 1] == "<end_of_image>"
    assert prepared.image_inputs["token_type_ids"][0].tolist() == (ids == adapter.image_token_id).long().tolist()
    assert tuple(prepared.pixels.clean.shape) == (1, 3, 224, 224)
    assert prepared.unit_grid.tolist() == np.arange(G * G).reshape(G, G).tolist()
    assert torch.equal(prepared.token_units, torch.eye(G * G))
    y = torch.arange(224) // CELL
    assert torch.equal(prepared.pixels.unit_index[0, 0], y[:, None] * G + y[None, :])
    query = tok.decode([int(ids[p]) for p in prepared.layout.query_positions])
    assert query.startswith("Which shape is on the left?") and query.rstrip().endswith("square")


def test_the_projector_pools_patch_blocks_into_row_major_tokens(adapter):
    # one nonzero SigLIP patch (i, j) reaches only pooled token (i // 4) * 4 + j // 4
    projector = adapter.model.model.multi_modal_projector
    width = adapter.model.config.vision_config.hidden_size
    for i, j in [(0, 0), (0, 15), (6, 9), (15, 15)]:
        states = torch.zeros(1, 16 * 16, width)
        states[0, i * 16 + j] = 1.0
        with torch.no_grad():
            tokens = projector(states)[0]
        assert torch.nonzero(tokens.abs().sum(-1)).flatten().tolist() == [(i // 4) * G + j // 4]


def test_masking_unit_k_changes_exactly_its_cell(prepared):
    check_masking_unit_k_changes_exactly_its_square(prepared, G, CELL)


def _own_forward(adapter, prepared, target, image_keep, text_keep, token_types=True):
    """The model's own forward (input ids + pixel values) on one masked variant."""
    ids, pixels = masked_variant(adapter, prepared, target, image_keep, text_keep)
    extra = {"token_type_ids": (ids == adapter.image_token_id).long()} if token_types else {}
    with torch.no_grad():
        logits = adapter.model(input_ids=ids, pixel_values=pixels, attention_mask=torch.ones(1, ids.numel(), dtype=torch.long), **extra).logits
    return float(torch.exp(answer_log_prob(logits, target))[0])


def test_game_values_are_the_models_own_with_bidirectional_image_attention(adapter, prepared):
    target = adapter.make_target(prepared, "a b c", prefix_text="x")
    image_keep, text_keep = full_and_random_coalitions(prepared.n_image_units, prepared.n_text_units)
    values = adapter.game(prepared, target).values(image_keep, text_keep)
    own = [_own_forward(adapter, prepared, target, a, b) for a, b in zip(image_keep, text_keep)]
    np.testing.assert_allclose(values, own, rtol=1e-5, atol=0)
    # without token_type_ids the image tokens would attend causally: a different value
    causal = _own_forward(adapter, prepared, target, image_keep[0], text_keep[0], token_types=False)
    assert abs(causal - own[0]) > 1e-4 * own[0]
    # the kit's reference extends the processor's token_type_ids over the answer
    extended = adapter.image_inputs_for(prepared, adapter.sequence_ids(prepared, target).numel())["token_type_ids"]
    assert extended[0].tolist() == (adapter.sequence_ids(prepared, target) == adapter.image_token_id).long().tolist()


def test_prefix_sharing_on_and_off_agree_on_fsyn_coalitions(twin, instance):
    check_prefix_sharing_agrees(twin, instance)  # the prefix (image included) really is shared


register_without_torchvision(
    "gemma3", "print(type(p).__name__, type(p.image_processor).__name__, p.image_seq_length, p.image_processor.size['height'])\n"
)


def test_processor_loads_without_torchvision(twin, tmp_path_factory):
    expected = ["ImageOnlyGemma3Processor", "Gemma3ImageProcessor", "16", "224"]
    assert processor_without_torchvision(tmp_path_factory, "gemma3").split() == expected
    assert '"processor_class": "Gemma3Processor"' in (twin / "processor_config.json").read_text()


def test_default_cap_is_one_896_px_view_of_256_tokens(adapter, instance):
    assert adapter.image_processor_kwargs() == {"do_pan_and_scan": False}
    real = RECIPE.processor(RECIPE.tokenizer(), {"image_size": 896, "image_seq_length": 256})
    prompt = adapter.render_prompt("Is it red?")
    encoded = real(images=instance.load_image(), text=prompt, return_tensors="pt", **adapter.image_processor_kwargs())
    assert tuple(encoded["pixel_values"].shape) == (1, 3, 896, 896)
    assert int((encoded["input_ids"] == real.tokenizer.image_token_id).sum()) == 256
    real_model = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(mm_tokens_per_image=256)))
    unit_index, m, grid, _ = Gemma3Adapter.unit_layout(real_model, encoded["pixel_values"], {}, 256, (200, 150))
    assert m == 256 and grid.shape == (16, 16)
    assert int(unit_index[0, 0, 55, 56]) == 1 and int(unit_index[0, 0, 56, 0]) == 16  # 56 px cells
    # pan-and-scan crops would be further views: refused, not silently mis-mapped
    with pytest.raises(PromptLayoutError, match="pan-and-scan"):
        Gemma3Adapter.unit_layout(real_model, encoded["pixel_values"].repeat(2, 1, 1, 1), {}, 512, (200, 150))
