import json
from collections import Counter

import numpy as np
import pytest

from synfaith.data.synthetic import (
    ALL_COLOURS,
    CELL,
    COLOURS,
    FAMILIES,
    PRIOR_COLOUR,
    SUBSETS,
    SceneSampler,
    synthetic_instances,
    write_synthetic,
)


@pytest.fixture(scope="module")
def split():
    return synthetic_instances(60, split="test")


def test_balanced_and_deterministic(split):
    assert len(split) == 60 * 9
    cells = Counter((i.meta["family"], i.meta["subset"]) for i in split)
    assert set(cells.values()) == {60}
    again = synthetic_instances(60, split="test")
    assert [(i.question, i.answer) for i in again] == [(i.question, i.answer) for i in split]
    other = synthetic_instances(60, split="validation")
    assert [i.question for i in other] != [i.question for i in split]
    with pytest.raises(ValueError, match="unknown split"):
        synthetic_instances(1, split="dev")


def test_answers_are_balanced_where_they_should_be(split):
    for family, subset in [("existence", "synergy"), ("existence", "redundant"), ("relation", "synergy")]:
        answers = Counter(i.answer for i in split if i.meta["family"] == family and i.meta["subset"] == subset)
        assert min(answers.values()) >= 18, (family, subset, answers)
    counts = Counter(i.answer for i in split if i.meta["family"] == "counting" and i.meta["subset"] == "synergy")
    assert set(counts) == {"A", "B", "C", "D"}


def test_prior_subset_follows_the_planted_bias(split):
    prior = [i for i in split if i.meta["subset"] == "prior"]
    expected = {"existence": "yes", "counting": "B", "relation": "A"}
    assert all(i.answer == expected[i.meta["family"]] and PRIOR_COLOUR in i.question for i in prior)
    conflict = synthetic_instances(30, split="test", subsets=("prior_conflict",))
    assert all(i.answer != expected[i.meta["family"]] for i in conflict)


def test_evidence_boxes_hold_the_named_objects(split):
    for instance in split:
        image = np.asarray(instance.load_image())
        for box in instance.ground_truth.boxes:
            cell = image[int(box.top) : int(box.bottom), int(box.left) : int(box.right)]
            colour = next(w for w in instance.ground_truth.words if w in ALL_COLOURS) if instance.meta["family"] != "relation" else None
            if colour:
                assert (np.abs(cell.astype(int) - ALL_COLOURS[colour]).sum(-1) < 10).sum() > 20
            assert box.right - box.left == CELL
        for word in instance.ground_truth.words:
            assert word in instance.question


def test_yes_existence_has_evidence_and_hard_negatives_share_a_word(split):
    rng = np.random.default_rng(0)
    sampler = SceneSampler(rng)
    for _ in range(200):
        scene, question = sampler.existence("synergy")
        colour, shape = question.words
        assert bool(scene.matching(colour, shape)) == (question.answer == "yes")
        if question.answer == "no":
            assert scene.matching(colour=colour) or scene.matching(shape=shape)


def test_counting_has_no_colour_shortcut():
    sampler = SceneSampler(np.random.default_rng(1))
    target_is_most_frequent = []
    for _ in range(400):
        scene, question = sampler.counting("synergy")
        colour = question.words[0]
        counts = Counter(o.colour for o in scene.objects)
        assert counts[colour] == "ABCD".index(question.answer) + 1
        target_is_most_frequent.append(counts[colour] > max(v for c, v in counts.items() if c != colour))
    assert 0.2 < np.mean(target_is_most_frequent) < 0.7


def test_relation_target_is_unique_and_distractors_cover_both_sides():
    sampler = SceneSampler(np.random.default_rng(2))
    for _ in range(200):
        scene, question = sampler.relation("synergy")
        (target,) = question.evidence
        assert len(scene.matching(target.colour, target.shape)) == 1
        assert question.answer == ("A" if target.col < 2 else "B")
        assert any((o.col < 2) != (target.col < 2) for o in scene.objects)


def test_redundant_captions_state_the_answer_and_scenes_hold_only_the_evidence(split):
    for instance in (i for i in split if i.meta["subset"] == "redundant"):
        family = instance.meta["family"]
        if family == "existence":
            assert ("There is no" in instance.question) == (instance.answer == "no")
        elif family == "counting":
            assert f"There {'is' if instance.answer == 'A' else 'are'} {'ABCD'.index(instance.answer) + 1} " in instance.question
        else:
            assert ("on the left side." in instance.question) == (instance.answer == "A")
        assert len(instance.ground_truth.boxes) == instance.meta["caption"].count(" at ")


def test_write_synthetic_round_trip(tmp_path):
    instances = synthetic_instances(2, split="test")
    path = write_synthetic(tmp_path, instances)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 18 and (tmp_path / records[0]["image"]).is_file()
    assert records[0]["ground_truth"]["words"] == list(instances[0].ground_truth.words)
    assert set(COLOURS) | {PRIOR_COLOUR} == set(ALL_COLOURS) and len(FAMILIES) == len(SUBSETS) == 3
