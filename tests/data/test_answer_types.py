"""``answer_type`` in the data: strict JSONL field, the config's per-dataset setting, the caption family."""

import json

import pytest

from synfaith.data import DatasetSource, Instance, InvalidRow, open_dataset
from synfaith.data.answer_types import with_answer_settings
from synfaith.data.jsonl import load_jsonl
from synfaith.data.synthetic import CAPTION_QUESTION, synthetic_instances
from tests.conftest import random_image

QUESTION = "Describe the image."


def write(tmp_path, *records) -> DatasetSource:
    random_image(32, 32).save(tmp_path / "a.png")
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"image": "a.png", "question": QUESTION} | r) for r in records) + "\n")
    return load_jsonl(path)


def test_answer_type_reaches_the_instance_and_lists_are_acceptable_answers(tmp_path):
    source = write(
        tmp_path,
        {"id": "open", "answer_type": "open", "answer": ["a red circle", "red disc"]},
        {"id": "plain", "answer": "yes"},
        {"id": "choice", "answer_type": "choice", "choices": ["red", "blue"], "answer": "A"},
        {"id": "in-meta", "meta": {"answer_type": "open"}, "answer": "red circle"},
    )
    rows = {source.row(i).id: source.row(i) for i in range(len(source))}
    assert all(isinstance(r, Instance) for r in rows.values()), rows
    assert rows["open"].answer == "a red circle" and rows["open"].meta == {"answer_type": "open", "answers": ["a red circle", "red disc"]}
    assert rows["plain"].meta == {} and rows["choice"].meta == {"answer_type": "choice"}
    assert rows["in-meta"].meta["answer_type"] == "open"


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"answer_type": "free"}, "field 'answer_type' must be one of yes_no, choice, open, got \"free\""),
        ({"answer_type": 3}, "field 'answer_type' must be one of yes_no, choice, open, got 3"),
        ({"answer_type": "choice"}, "field 'answer_type' is 'choice' but there are no 'choices'"),
        ({"answer_type": "yes_no", "choices": ["a", "b"]}, "field 'answer_type' is 'yes_no' but there are 'choices'"),
        ({"answer_type": "open", "answer_pattern": "(x)"}, "'answer_pattern' cuts one out of the response"),
        ({"answer": ["red", "blue"]}, "field 'answer' must be a non-empty string or null, got [\"red\", \"blue\"]"),
        ({"answer_type": "open", "answer": ["red", ""]}, "field 'answer' must be a non-empty string, a list of them (answer_type open) or null"),
        ({"meta": {"answer_type": "Open"}}, "field 'meta.answer_type' must be one of"),
    ],
)
def test_a_bad_answer_type_is_a_failure_row_naming_the_line(tmp_path, record, reason):
    source = write(tmp_path, {"id": "good"}, {"id": "bad"} | record)
    assert isinstance(source.row(0), Instance)
    row = source.row(1)
    assert isinstance(row, InvalidRow) and row.reason.startswith("data.jsonl line 2: ") and reason in row.reason, row


def test_the_config_setting_applies_to_every_instance_and_wins():
    source = DatasetSource.from_instances("d", synthetic_instances(1, families=("existence", "counting"), subsets=("synergy",)))
    assert with_answer_settings(source) is source  # nothing set: the source itself
    opened = with_answer_settings(source, "open", 40)
    assert [opened.row(i).meta["answer_type"] for i in range(2)] == ["open", "open"]
    assert opened.row(0).meta["max_answer_tokens"] == 40 and "answer_type" not in source.row(0).meta
    assert opened.row(0).pixel_budget == source.row(0).pixel_budget
    as_choice = with_answer_settings(source, "choice")
    bad = as_choice.row(0)  # the existence question has no choices
    assert isinstance(bad, InvalidRow) and "is 'choice' but there are no 'choices'" in bad.reason
    assert isinstance(as_choice.row(1), Instance)


def test_the_caption_family_asks_for_the_caption_as_an_open_answer():
    instances = open_dataset("synthetic", per_cell=3, families=["caption"]).row
    captions = [instances(i) for i in range(3)]
    assert [c.id for c in captions] == [f"test-caption-{i:05d}" for i in range(3)]
    for caption in captions:
        assert caption.question == CAPTION_QUESTION == QUESTION and caption.choices is None
        assert caption.meta["answer_type"] == "open" and caption.answer == caption.meta["caption"]
        assert caption.answer.endswith(".") and len(caption.ground_truth.boxes) >= 1
    again = synthetic_instances(3, families=("caption",))
    assert [c.answer for c in again] == [c.answer for c in captions]  # deterministic
    assert len(synthetic_instances(2, families=("caption", "existence"))) == 2 + 2 * 3  # one caption cell
    with pytest.raises(ValueError, match="unknown family 'colour'"):
        synthetic_instances(1, families=("colour",))
