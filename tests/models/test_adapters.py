"""The adapter contract on each tiny twin: units, masking, text units, scores, targets."""

import numpy as np
import pytest
import torch

from synfaith.metrics import synergistic_faithfulness
from synfaith.models import MULTIPLE_CHOICE_INSTRUCTION, RegexAnswer, UnparseableAnswerError, YesNo
from synfaith.models.prompts import build_user_text


def _features_count(adapter, prepared):
    image_inputs = prepared.image_inputs
    features = adapter.image_features(prepared.pixels.clean, 1, image_inputs)
    return features.shape[1]


def test_units_match_the_models_visual_tokens(adapters, arch, yes_no_instance, choice_instance):
    adapter = adapters[arch]
    for instance in (yes_no_instance, choice_instance):
        prepared = adapter.prepare(instance)
        n_tokens = prepared.layout.visual_positions.numel()
        assert _features_count(adapter, prepared) == n_tokens  # tokens in the ids = vision outputs
        n_views = prepared.pixels.clean.shape[0]
        thumbnail_tokens = n_tokens // n_views if arch == "internvl" and n_views > 1 else 0
        assert prepared.n_image_units == n_tokens - thumbnail_tokens
        assert sorted(prepared.unit_grid.ravel().tolist()) == list(range(prepared.n_image_units))
        np.testing.assert_allclose(prepared.token_units.sum(1).numpy(), 1.0, atol=1e-6)


def test_tiling_and_resolution_caps(adapters, choice_instance):
    internvl = adapters["internvl"].prepare(choice_instance)  # 150×60: a 2×1 canvas + thumbnail
    assert internvl.pixels.clean.shape[0] == 3 and internvl.unit_grid.shape == (4, 8)
    qwen = adapters["qwen2_5_vl"]
    assert qwen.image_processor_kwargs()["max_pixels"] == 313600 and adapters["internvl"].max_tiles == 2


def test_masking_a_unit_changes_its_region_only_in_every_view(adapters, arch, choice_instance):
    prepared = adapters[arch].prepare(choice_instance)
    pixels = prepared.pixels
    index = pixels.unit_index.expand_as(pixels.clean)
    for unit in range(prepared.n_image_units):
        keep = np.ones((1, prepared.n_image_units), bool)
        keep[0, unit] = False
        masked = pixels.masked(keep)
        region = index == unit
        assert torch.equal(masked[~region], pixels.clean[~region])
        assert torch.equal(masked[region], pixels.blurred[region])
        views_touched = [bool(region[v].any()) for v in range(region.shape[0])]
        if arch == "internvl":  # 2 tiles + thumbnail: the unit's own tile and the thumbnail
            own_tile = unit // (prepared.n_image_units // 2)
            assert views_touched == [own_tile == 0, own_tile == 1, True]
        elif arch == "llava":
            assert views_touched == [True]
        else:  # Qwen: the 4 pixel rows of the merged token
            assert sum(views_touched) == 4


def test_text_units_are_the_question_and_choices_only(adapters, arch, choice_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(choice_instance)
    ids = prepared.layout.input_ids
    query = adapter.tokenizer.decode(ids[prepared.layout.query_positions])
    assert query == prepared.query_text == "How many circles are there?\n(A) 1\n(B) 2\n(C) 3"
    template = adapter.tokenizer.decode(ids[prepared.layout.template_positions])
    assert MULTIPLE_CHOICE_INSTRUCTION in template and "How many" not in template
    assert not set(prepared.layout.query_positions.tolist()) & set(prepared.layout.visual_positions.tolist())
    assert (ids[prepared.layout.visual_positions] == adapter.image_token_id).all()
    assert prepared.layout.query_positions.min() > prepared.layout.visual_positions.max()


def _hand_probability(adapter, prepared, target, image_keep, text_keep):
    """Teacher-forced joint probability through the model's own forward (input_ids + pixel_values)."""
    ids = torch.cat([prepared.layout.input_ids, target.prefix_ids, target.answer_ids[:-1]])[None].clone()
    for unit, keep in enumerate(text_keep):
        if not keep:
            ids[0, prepared.layout.query_positions[unit]] = adapter.pad_token_id
    pixel_values = prepared.pixels.masked(image_keep[None])
    with torch.no_grad():
        logits = adapter.model(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixel_values, **prepared.image_inputs
        ).logits[0]
    start = ids.shape[1] - target.answer_ids.numel()
    total = 0.0
    for j, token in enumerate(target.answer_ids.tolist()):
        total += torch.log_softmax(logits[start + j].double(), -1)[token].item()
    return float(np.exp(total))


def test_game_equals_hand_written_teacher_forcing(adapters, arch, choice_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(choice_instance)
    target = adapter.make_target(prepared, "B", prefix_text="(")
    game = adapter.game(prepared, target, batch_size=8)
    rng = np.random.default_rng(0)
    m, n = prepared.n_image_units, prepared.n_text_units
    image_keep = rng.random((6, m)) < 0.5
    text_keep = rng.random((6, n)) < 0.5
    image_keep[0], text_keep[0] = True, True
    image_keep[1], text_keep[1] = False, False
    batched = game.values(image_keep, text_keep)
    for b in range(6):
        assert batched[b] == pytest.approx(_hand_probability(adapter, prepared, target, image_keep[b], text_keep[b]), rel=1e-5)
        one = adapter.target_probabilities(prepared, target, image_keep[b : b + 1], text_keep[b : b + 1])[0]
        assert batched[b] == pytest.approx(one, rel=1e-5)
    # masking really changes the score (otherwise every test above would pass trivially)
    assert np.ptp(batched) > 1e-4 * batched.max()


def test_generate_target_tokens_are_what_the_game_scores(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    inputs = adapter._model_inputs(prepared)
    with torch.no_grad():
        out = adapter.model.generate(
            **inputs, max_new_tokens=adapter.max_new_tokens, do_sample=False, output_scores=True, return_dict_in_generate=True,
            pad_token_id=adapter.pad_token_id,
        )
    step_probs = [torch.softmax(s[0].double(), -1) for s in out.scores]
    generated = out.sequences[0, prepared.layout.input_ids.numel() :]
    # first character of the response: no prefix, the first token is the answer
    target = adapter.generate_target(prepared, RegexAnswer(r"(?s)(.)"))
    assert target.prefix_ids.numel() == 0 and target.answer_ids.tolist() == generated[:1].tolist()
    game = adapter.game(prepared, target)
    full = game.value(np.ones(game.n_image, bool), np.ones(game.n_text, bool))
    assert full == pytest.approx(step_probs[0][generated[0]].item(), rel=1e-5)
    # an answer after a prefix: the prefix is context, the answer token is scored
    # (byte-level twins may emit zero-width tokens before it: they are prefix too)
    target = adapter.generate_target(prepared, RegexAnswer(r"(?s)^.(.)"))
    k = target.prefix_ids.numel()
    assert k >= 1 and target.prefix_ids.tolist() == generated[:k].tolist()
    assert target.answer_ids.tolist() == generated[k : k + 1].tolist()
    full = adapter.game(prepared, target).value(np.ones(game.n_image, bool), np.ones(game.n_text, bool))
    assert full == pytest.approx(step_probs[k][generated[k]].item(), rel=1e-5)
    # a random twin does not say yes or no: a typed error that names the response
    with pytest.raises(UnparseableAnswerError, match="'Yes' or 'No'"):
        adapter.generate_target(prepared, YesNo())


def test_fsyn_runs_on_a_twin_in_one_batched_pass(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    game = adapter.game(prepared, adapter.make_target(prepared, "Y"), batch_size=128)
    m, n = prepared.n_image_units, prepared.n_text_units
    result = synergistic_faithfulness(game, np.arange(m, dtype=float), np.arange(n, dtype=float))
    assert game.calls == 1 and game.evaluations == result.coalitions <= 6 * 11 + 2
    assert np.isfinite(result.score)


def test_ground_truth_maps_boxes_and_words_to_units(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    coverage, words = adapter.ground_truth_units(prepared)
    assert coverage.shape == (prepared.n_image_units,) and coverage.max() > 0.5
    # the box is the top-left 20×20 px: the top-left unit is the most covered, far units are not
    assert coverage[prepared.unit_grid[0, 0]] == coverage.max()
    assert coverage[prepared.unit_grid[-1, -1]] == 0
    hit_text = "".join(prepared.query_text[a:b] for (a, b), hit in zip(prepared.layout.query_spans, words) if hit)
    assert hit_text.replace(" ", "") == "redcircle"


def test_user_text_and_correctness(adapters, choice_instance):
    text, (start, end) = build_user_text(choice_instance, "Answer:")
    assert text[start:end] == "How many circles are there?\n(A) 1\n(B) 2\n(C) 3"
    assert text.endswith(MULTIPLE_CHOICE_INSTRUCTION + "\nAnswer:")
    llava = adapters["llava"]
    assert "Answer:" in llava.prepare(choice_instance).prompt  # LLaVA-1.5's cue, not a query unit
    from synfaith.models.answers import ChoiceLetter, is_correct

    assert is_correct(choice_instance, "B", ChoiceLetter("ABC")) is True
    assert is_correct(choice_instance, "A", ChoiceLetter("ABC")) is False


def test_white_box_gradients_and_attentions(twin_dirs, arch, yes_no_instance):
    from synfaith.models import load_model

    adapter = load_model(twin_dirs[arch], attn_implementation="eager")
    prepared = adapter.prepare(yes_no_instance)
    target = adapter.make_target(prepared, "Y")
    pixels = prepared.pixels.clean.clone().requires_grad_()
    embeds, ids = adapter.embedded_inputs(prepared, target, pixel_values=pixels)
    leaf = embeds.detach().requires_grad_()
    out = adapter.forward_embeddings(leaf, ids, prepared, output_attentions=True)
    logit = out.logits[0, -1, target.answer_ids[0]]
    # the same value as the game's all-keep score
    prob = torch.softmax(out.logits[0, -1].double(), -1)[target.answer_ids[0]].item()
    game = adapter.game(prepared, target)
    assert prob == pytest.approx(game.value(np.ones(game.n_image, bool), np.ones(game.n_text, bool)), rel=1e-5)
    logit.backward(retain_graph=True)
    grad = leaf.grad[0].abs().sum(-1)
    assert grad[prepared.layout.visual_positions].sum() > 0 and grad[prepared.layout.query_positions].sum() > 0
    (embeds * leaf.grad).sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    # one attention map per decoder layer, rows stochastic
    assert len(out.attentions) == len(adapter.language_layers)
    attention = out.attentions[0][0]
    torch.testing.assert_close(attention.sum(-1), torch.ones_like(attention.sum(-1)), atol=1e-5, rtol=0)
