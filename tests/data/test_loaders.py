"""Dataset loaders on small fixture files written in each real schema."""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synfaith.data import DATASETS, Instance, InvalidRow, open_dataset
from synfaith.data.jsonl import load_jsonl
from synfaith.data.tables import DatasetNotAvailableError, split_mmstar_question
from tests.conftest import random_image


def png_bytes(seed: int = 0, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    random_image(*size, seed=seed).save(buffer, format="PNG")
    return buffer.getvalue()


def test_registry_names_every_loader():
    assert {"synthetic", "jsonl", "repope", "cvbench", "mmstar"} <= set(DATASETS)
    with pytest.raises(ValueError, match="unknown dataset 'pope'"):
        open_dataset("pope")
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        open_dataset("synthetic", colour="red")


def test_jsonl_format_round_trip_and_bad_rows(tmp_path):
    (tmp_path / "img").mkdir()
    random_image(32, 32).save(tmp_path / "img" / "a.png")
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    records = [
        {"id": "good", "image": "img/a.png", "question": "Is there a dog?", "answer": "yes",
         "ground_truth": {"boxes": [[0, 0, 10, 10]], "words": ["dog"]}, "meta": {"source": "x"}},
        {"id": "mc", "image": "img/a.png", "question": "Which?", "choices": ["cat", "dog"], "answer": "(B)"},
        {"id": "no-image", "question": "Is it?"},
        {"id": "empty", "image": "img/a.png", "question": "   "},
        {"id": "broken", "image": "img/broken.png", "question": "Is it?"},
    ]
    lines = [json.dumps(r) for r in records] + ["{not json"]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    source = load_jsonl(path)
    assert len(source) == 6 and source.name == "data"
    good = source.row(0)
    assert isinstance(good, Instance) and good.ground_truth.words == ("dog",) and good.ground_truth.boxes[0].right == 10
    assert good.load_image().size == (32, 32) and good.meta == {"source": "x"}
    assert source.row(1).choices == ("cat", "dog") and source.row(1).answer == "(B)"
    assert source.row(2) == InvalidRow("no-image", "data.jsonl line 3: missing field 'image'")
    empty = source.row(3)
    assert empty == InvalidRow("empty", 'data.jsonl line 4: field \'question\' must be a non-empty string, got "   "')
    broken = source.row(4)  # loads lazily: the image fails when a model prepares it
    assert isinstance(broken, Instance)
    with pytest.raises(ValueError, match="cannot read image"):
        broken.load_image()
    assert source.row(5) == InvalidRow("data-6", "data.jsonl line 6: not valid JSON: Expecting property name enclosed in double quotes at column 2")
    assert source.row_id(5) == "data-6"


def test_jsonl_duplicate_ids_are_kept_apart(tmp_path):
    random_image(8, 8).save(tmp_path / "a.png")
    line = json.dumps({"id": "same", "image": "a.png", "question": "Is it?"})
    (tmp_path / "d.jsonl").write_text(line + "\n" + line + "\n")
    source = load_jsonl(tmp_path / "d.jsonl")
    assert isinstance(source.row(0), Instance)
    duplicate = source.row(1)
    assert duplicate == InvalidRow("same#line2", "d.jsonl line 2: field 'id' repeats the id of line 1")


def test_synthetic_writer_output_loads_as_jsonl(tmp_path):
    from synfaith.data.synthetic import synthetic_instances, write_synthetic

    instances = synthetic_instances(1, split="test")
    source = load_jsonl(write_synthetic(tmp_path, instances))
    loaded = [source.row(i) for i in range(len(source))]
    assert [i.id for i in loaded] == [i.id for i in instances]
    assert [i.ground_truth for i in loaded] == [i.ground_truth for i in instances]
    assert np.array_equal(np.asarray(loaded[0].load_image()), np.asarray(instances[0].load_image()))


def test_repope_annotations_and_coco_folder(tmp_path):
    coco = tmp_path / "val2014"
    coco.mkdir()
    random_image(50, 40).save(coco / "COCO_val2014_000000000042.jpg")
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    rows = [
        {"question_id": 1, "image": "COCO_val2014_000000000042.jpg", "text": "Is there a dining table in the image?", "label": "yes"},
        {"question_id": 2, "image": "COCO_val2014_000000000042.jpg", "text": "Is there an apple in the image?", "label": "no"},
        {"question_id": 3, "image": "COCO_val2014_000000000042.jpg", "text": "Is there a cat in the image?", "label": "maybe"},
    ]
    (annotations / "coco_repope_adversarial.json").write_text("\n".join(json.dumps(r) for r in rows))
    source = open_dataset("repope", annotations=str(annotations), image_root=str(coco), split="adversarial")
    assert len(source) == 3 and source.name == "repope-adversarial"
    first = source.row(0)
    assert first.id == "repope-adversarial-1" and first.answer == "yes" and first.ground_truth.words == ("dining table",)
    assert source.row(1).ground_truth.words == ("apple",) and source.row(1).load_image().size == (50, 40)
    assert source.row(2).reason == "coco_repope_adversarial.json line 3: field 'label' must be 'yes' or 'no', got \"maybe\""
    with pytest.raises(FileNotFoundError, match="coco_repope_random.json"):
        open_dataset("repope", annotations=str(annotations), image_root=str(coco))


def test_cvbench_parquet(tmp_path):
    table = pa.Table.from_pylist(
        [
            {"idx": 0, "type": "2D", "task": "Count", "image": {"bytes": png_bytes(0), "path": "a.png"},
             "question": "How many chairs are in the image?", "choices": ["0", "1", "2", "3"], "answer": "(C)",
             "prompt": "…", "source": "COCO", "bbox": [[1.0, 2.0, 11.0, 12.0]]},
            {"idx": 1, "type": "3D", "task": "Depth", "image": {"bytes": png_bytes(1), "path": "b.png"},
             "question": "Which is closer?", "choices": ["the lamp", "the bed"], "answer": "(A)",
             "prompt": "…", "source": "Omni3D", "bbox": None},
            {"idx": 2, "type": "2D", "task": "Count", "image": {"bytes": b"garbage", "path": "c.png"},
             "question": "How many?", "choices": ["1", "2"], "answer": "(A)", "prompt": "…", "source": "ADE20K", "bbox": None},
        ]
    )
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(table, path)
    source = open_dataset("cvbench", source=str(tmp_path), split="test")
    assert len(source) == 3 and source.row_id(2) == "cvbench-2"
    first = source.row(0)
    assert first.id == "cvbench-0" and first.choices == ("0", "1", "2", "3") and first.answer == "(C)"
    assert first.meta["task"] == "Count" and first.ground_truth.boxes[0].left == 1.0
    assert isinstance(first.image, Image.Image) and first.image.size == (40, 30)
    assert source.row(1).ground_truth is None
    bad = source.row(2)
    assert isinstance(bad, InvalidRow) and bad.id == "cvbench-2" and "cannot identify image" in bad.reason


def test_mmstar_parquet_with_inline_options(tmp_path):
    question = "What is the main colour of the car?\nOptions: A: red, B: blue, C: green, D: white"
    table = pa.Table.from_pylist(
        [
            {"index": 7, "question": question, "image": {"bytes": png_bytes(2), "path": None}, "answer": "B",
             "category": "coarse perception", "l2_category": "image scene and topic", "meta_info": {"source": "SEED"}},
            {"index": 8, "question": "Odd one: no options here", "image": {"bytes": png_bytes(3), "path": None}, "answer": "A",
             "category": "logical reasoning", "l2_category": "x", "meta_info": {"source": "SEED"}},
        ]
    )
    pq.write_table(table, tmp_path / "val.parquet")
    source = open_dataset("mmstar", source=str(tmp_path / "val.parquet"))
    assert [source.row_id(0), source.row_id(1)] == ["mmstar-7", "mmstar-8"]  # ids known before rows are built
    first = source.row(0)
    assert first.id == "mmstar-7" and first.question == "What is the main colour of the car?"
    assert first.choices == ("red", "blue", "green", "white") and first.answer == "B"
    second = source.row(1)
    assert second.choices is None and second.meta["answer_pattern"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Q?\nOptions: A: 1, B: 2", ("Q?", ("1", "2"))),
        ("Q? Options: A: a, b and c, B: d", ("Q?", ("a, b and c", "d"))),
        ("Q?\nOptions: A. yes\nB. no", ("Q?", ("yes", "no"))),
        ("Q? Options: B: x, C: y", ("Q? Options: B: x, C: y", None)),
    ],
)
def test_split_mmstar_question(text, expected):
    assert split_mmstar_question(text) == expected


def test_hub_name_offline_fails_with_advice(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetNotAvailableError, match="pass the local path"):
        open_dataset("mmstar", source="Lin-Chen/MMStar-does-not-exist-here")
