"""PaliGemma (``paligemma``) on its tiny twin: prompt layout, patch units, masking, the prefix-LM
attention of the game, no prefix sharing, processor and caps."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.base import answer_log_prob
from synfaith.models.paligemma import PaliGemmaAdapter
from synfaith.testing.families.paligemma import RECIPE

from ._common import (
    check_masking_unit_k_changes_exactly_its_square,
    family_fixtures,
    full_and_random_coalitions,
    masked_variant,
    noise_image,
    processor_without_torchvision,
    register_without_torchvision,
)

PATCH = 14
G = 4  # the twin's 56 px view: 4×4 patches


_one_torch_thread, twin, adapter = family_fixtures("paligemma")


@pytest.fixture(scope="module")
def instance():
    return Instance("pg-yes-no", noise_image(120, 90), "Is the circle red?")  # not square: resized, not cropped


@pytest.fixture(scope="module")
def prepared(adapter, instance):
    return adapter.prepare(instance)


def test_prompt_layout_and_units_are_the_patches(adapter, prepared):
    tok = adapter.tokenizer
    ids = prepared.layout.input_ids
    assert prepared.prompt == "<image><bos>answer en Is the circle red?\n"
    expected = [adapter.image_token_id] * G * G + tok("<bos>answer en Is the circle red?\n", add_special_tokens=False)["input_ids"]
    assert ids.tolist() == expected  # the processor's own: image tokens, <bos>, task prefix, question, "\n"
    assert tok.decode([int(ids[p]) for p in prepared.layout.query_positions]) == "Is the circle red?"
    assert int(prepared.layout.query_positions[0]) == G * G + 1 + len("answer en ")  # the task prefix is no unit
    assert prepared.layout.visual_positions.tolist() == list(range(G * G)) and prepared.n_image_units == G * G
    assert tuple(prepared.pixels.clean.shape) == (1, 3, 56, 56) and prepared.image_inputs == {}
    assert prepared.unit_grid.tolist() == np.arange(G * G).reshape(G, G).tolist()
    assert torch.equal(prepared.token_units, torch.eye(G * G))
    y = torch.arange(56) // PATCH
    assert torch.equal(prepared.pixels.unit_index[0, 0], y[:, None] * G + y[None, :])


def test_task_prefix_option(twin, instance):
    plain = load_model(twin, task_prefix="")
    prepared = plain.prepare(instance)
    assert prepared.prompt == "<image><bos>Is the circle red?\n"
    assert int(prepared.layout.query_positions[0]) == G * G + 1


def test_masking_unit_k_changes_exactly_its_patch(prepared):
    check_masking_unit_k_changes_exactly_its_square(prepared, G, PATCH)


def _generation_value(adapter, prepared, target, image_keep, text_keep):
    """The answer's probability as generation computes it: the prompt in one pass, then one token at a time."""
    ids, pixels = masked_variant(adapter, prepared, target, image_keep, text_keep)
    n_prompt = prepared.layout.input_ids.numel()
    with torch.no_grad():
        out = adapter.model(input_ids=ids[:, :n_prompt], pixel_values=pixels, attention_mask=torch.ones(1, n_prompt, dtype=torch.long), use_cache=True)
        logits = [out.logits[:, -1:]]
        for j in range(n_prompt, ids.shape[1]):
            out = adapter.model(
                input_ids=ids[:, j : j + 1],
                attention_mask=torch.ones(1, j + 1, dtype=torch.long),
                past_key_values=out.past_key_values,
                cache_position=torch.tensor([j]),
                use_cache=True,
            )
            logits.append(out.logits[:, -1:])
    return float(torch.exp(answer_log_prob(torch.cat(logits, 1), target))[0])


def test_game_values_follow_the_prefix_lm_attention_of_generation(adapter, prepared):
    target = adapter.make_target(prepared, "a b c", prefix_text="x")
    image_keep, text_keep = full_and_random_coalitions(prepared.n_image_units, prepared.n_text_units)
    values = adapter.game(prepared, target).values(image_keep, text_keep)
    generation = [_generation_value(adapter, prepared, target, a, b) for a, b in zip(image_keep, text_keep)]
    np.testing.assert_allclose(values, generation, rtol=1e-5, atol=0)
    # the model's own teacher-forced forward in its fine-tuning mode (token types + labels) agrees
    ids, pixels = masked_variant(adapter, prepared, target, image_keep[1], text_keep[1])
    ones = torch.ones_like(ids)
    with torch.no_grad():
        own = adapter.model(input_ids=ids, pixel_values=pixels, attention_mask=ones, **adapter.image_inputs_for(prepared, ids.shape[1])).logits
        bidirectional = adapter.model(input_ids=ids, pixel_values=pixels, attention_mask=ones).logits
    own, bidirectional = (float(torch.exp(answer_log_prob(x, target))[0]) for x in (own, bidirectional))
    np.testing.assert_allclose(own, values[1], rtol=1e-5)
    assert abs(bidirectional - own) > 1e-4 * own  # attending to later answer tokens would change it


def test_prefix_sharing_does_not_apply(twin, adapter, prepared):
    assert PaliGemmaAdapter.prefix_sharing_applies is False
    with pytest.raises(ValueError, match="bidirectional"):
        load_model(twin, prefix_cache=True)
    target = adapter.make_target(prepared, "a b c")
    m, n = prepared.n_image_units, prepared.n_text_units
    game = adapter.game(prepared, target)
    game.values(np.ones((3, m), bool), ~np.eye(3, n, dtype=bool))
    n_tokens = adapter.sequence_ids(prepared, target).numel()
    assert game.token_forwards == game.evaluations * n_tokens  # every variant ran its whole sequence


register_without_torchvision(
    "paligemma",
    "print(type(p).__name__, type(p.image_processor).__name__, p.image_seq_length, p.image_processor.size['height'],"
    " p.tokenizer.add_bos_token)\n"
)


def test_processor_loads_without_torchvision(twin, tmp_path_factory):
    expected = ["ImageOnlyPaliGemmaProcessor", "SiglipImageProcessor", "16", "56", "False"]
    assert processor_without_torchvision(tmp_path_factory, "paligemma").split() == expected
    assert '"processor_class": "PaliGemmaProcessor"' in (twin / "preprocessor_config.json").read_text()


def test_default_cap_is_the_checkpoints_224_px_view_of_256_patches(adapter, instance):
    assert adapter.image_processor_kwargs() == {}
    real = RECIPE.processor(RECIPE.tokenizer(), {"image_size": 224, "image_seq_length": 256})
    prompt = adapter.render_prompt("Is it red?")
    encoded = real(images=instance.load_image(), text=adapter.processor_text(prompt), return_tensors="pt")
    assert tuple(encoded["pixel_values"].shape) == (1, 3, 224, 224)
    image_id = real.tokenizer.convert_tokens_to_ids("<image>")
    assert encoded["input_ids"][0, :256].eq(image_id).all() and int(encoded["input_ids"].eq(image_id).sum()) == 256
    real_model = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(vision_config=SimpleNamespace(patch_size=14))))
    unit_index, m, grid, _ = PaliGemmaAdapter.unit_layout(real_model, encoded["pixel_values"], {}, 256, (120, 90))
    assert m == 256 and grid.shape == (16, 16)
    assert int(unit_index[0, 0, 13, 14]) == 1 and int(unit_index[0, 0, 14, 0]) == 16  # 14 px patches
