"""Open (free-form) answers: the generated answer is the target, scored jointly (docs/open-answers.md)."""

import math

import numpy as np
import pytest
import torch

from synfaith.data import Instance
from synfaith.data.synthetic import synthetic_instances
from synfaith.models import UnparseableAnswerError, YesNo, answer_format_for, load_model
from synfaith.models.answers import OpenAnswer, is_correct, match_open, normalise_answer, references_of
from synfaith.models.open_answers import cut_at_stop, stop_token_ids
from synfaith.models.remote import RemoteChatAdapter, RemoteModelError


@pytest.fixture(scope="module")
def toy():
    return load_model("toy")


@pytest.fixture(scope="module")
def captions(toy):
    """Two caption instances of the synthetic world with their generated targets."""
    out = []
    for instance in synthetic_instances(2, families=("caption",)):
        prepared = toy.prepare(instance)
        out.append((prepared, toy.generate_target(prepared)))
    return out


@pytest.mark.parametrize(
    "text, normalised",
    [("The Red circle.", "red circle"), ("  a   dog, an apple!  ", "dog apple"), ("Theory", "theory"), ("«Blue» square…", "blue square"), ("the", "")],
)
def test_normalisation_is_squad_style(text, normalised):
    assert normalise_answer(text) == normalised


def test_match_open_says_which_rule_matched():
    assert match_open("A red circle.", "red circle") == (True, "exact")
    assert match_open("There is a red circle at 3,2.", ["blue square", "red circle"]) == (True, "contains")
    assert match_open("reddish circle", "red circle") == (False, None)  # whole words only
    assert match_open("red", "red circle") == (False, None)  # the answer inside the reference is not enough
    assert match_open("the", "the") == (False, None)  # nothing left to compare
    assert match_open("anything", []) == (None, None)


def test_references_are_a_string_or_a_list():
    one = Instance("q", "x.png", "Describe it.", answer="red circle", meta={"answer_type": "open"})
    many = Instance("q", "x.png", "Describe it.", answer="red circle", meta={"answer_type": "open", "answers": ["red circle", "a red disc"]})
    assert references_of(one) == ("red circle",) and references_of(many) == ("red circle", "a red disc")
    assert is_correct(many, "A red disc", OpenAnswer()) is True
    assert references_of(Instance("q", "x.png", "Describe it.")) == ()


def test_answer_format_follows_answer_type_and_keeps_the_old_shapes():
    plain = Instance("q", "x.png", "Is there a dog?")
    assert type(answer_format_for(plain)) is YesNo
    bounded = answer_format_for(Instance("q", "x.png", "Describe it.", meta={"answer_type": "open", "max_answer_tokens": 7}))
    assert isinstance(bounded, OpenAnswer) and bounded.max_tokens == 7
    assert answer_format_for(Instance("q", "x.png", "Describe it.", meta={"answer_type": "open"})).max_tokens == 128
    with pytest.raises(ValueError, match="answer_type must be one of"):
        answer_format_for(Instance("q", "x.png", "Describe it.", meta={"answer_type": "free"}))


def test_open_parse_strips_whitespace_and_refuses_an_empty_answer():
    parsed = OpenAnswer().parse(" \n red circle at 3,2.\n ")
    assert (parsed.answer, parsed.start, parsed.end) == ("red circle at 3,2.", 3, 21)
    with pytest.raises(UnparseableAnswerError, match="free-form"):
        OpenAnswer().parse(" \n ")
    with pytest.raises(ValueError, match="positive integer"):
        OpenAnswer(0)


def test_stop_tokens_end_the_answer(toy):
    eos = toy.tokenizer.eos_token_id
    assert eos in stop_token_ids(toy)
    assert cut_at_stop(torch.tensor([5, 6, eos, 4, 4]), [eos]).tolist() == [5, 6]
    assert cut_at_stop(torch.tensor([5, 6]), [eos]).tolist() == [5, 6]


def test_the_toy_describes_the_scene_and_the_target_is_the_whole_caption(toy, captions):
    for prepared, target in captions:
        assert target.answer == target.response.strip() and target.answer.endswith(".")
        assert toy.tokenizer.eos_token_id not in target.answer_ids.tolist()  # the end of turn is not part of the answer
        assert toy.tokenizer.decode(target.answer_ids).strip() == target.answer
        assert len(target.token_log_probs) == target.answer_ids.numel() > 5
        assert target.correct == (target.correct_by is not None)
    # the toy was trained on these captions: at least one is word for word the reference
    assert any(t.correct_by == "exact" for _, t in captions)


def test_per_token_probabilities_multiply_to_the_games_value(toy, captions):
    for prepared, target in captions:
        game = toy.game(prepared, target)
        full = game.value(np.ones(prepared.n_image_units, bool), np.ones(prepared.n_text_units, bool))
        product = math.prod(math.exp(lp) for lp in target.token_log_probs)
        assert product == pytest.approx(full, rel=1e-6)
        assert all(lp <= 0 for lp in target.token_log_probs)


def test_the_open_bound_replaces_max_new_tokens(toy):
    instance = synthetic_instances(1, families=("caption",))[0]
    short = Instance(instance.id, instance.image, instance.question, answer=instance.answer, meta={**instance.meta, "max_answer_tokens": 4})
    target = toy.generate_target(toy.prepare(short))
    assert target.answer_ids.numel() + target.prefix_ids.numel() <= 4 and target.correct is False
    assert toy.max_new_tokens < 20  # the yes/no bound alone would cut every caption


def test_yes_no_targets_are_unchanged(toy):
    instance = synthetic_instances(1, families=("existence",), subsets=("synergy",))[0]
    target = toy.generate_target(toy.prepare(instance))
    assert target.answer in ("yes", "no") and target.token_log_probs == () and target.correct_by is None


def test_the_remote_adapter_refuses_open_answers_in_one_line():
    adapter = RemoteChatAdapter("http://127.0.0.1:9", text_units="words", api_key_env=None)
    instance = synthetic_instances(1, families=("caption",))[0]
    with pytest.raises(RemoteModelError, match="answer_type open, which this endpoint cannot serve") as info:
        adapter.generate_target(adapter.prepare(instance))
    assert "\n" not in str(info.value) and adapter.requests == 0
