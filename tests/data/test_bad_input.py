"""Bad input becomes one failure row naming file, line and field; it never loses the dataset."""

import json
import struct
import time
import zlib
from pathlib import Path

import pytest

from synfaith.data import Instance, InvalidRow, open_dataset
from synfaith.data.images import (
    ImagePathError,
    ImageTooLargeError,
    confine_path,
    open_image,
    read_image_size,
    resolve_roots,
)
from synfaith.data.jsonl import load_jsonl
from tests.conftest import random_image

YES_NO = "Is there a red circle in the image?"


def huge_png(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A valid 1-bit PNG of width × height that is ~17 KB on disk (and 144 MP when decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytes((1 + (width + 7) // 8) * height)  # filter byte + packed bits per row, all zero
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    )
    return path


def line(**fields) -> bytes:
    return json.dumps(fields).encode()


def good(**fields) -> bytes:
    return line(**({"image": "a.png", "question": YES_NO} | fields))


def corpus(tmp_path: Path) -> tuple[Path, dict[int, str], dict[int, str]]:
    """A dataset folder with a JSONL file of good and bad lines.

    Returns the file, ``{line: id}`` of the good lines and ``{line: what its reason must name}``.
    """
    data, outside = tmp_path / "ds", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    random_image(64, 64, seed=3).save(data / "a.png")
    random_image(16, 16).save(outside / "o.png")
    huge_png(data / "big.png")
    (data / "link.png").symlink_to(outside / "o.png")
    lines: list[tuple[bytes, str, str]] = [  # (raw line, "good" or "bad", the good id or the field named)
        (b"\xef\xbb\xbf" + good(id="first"), "good", "first"),
        (b'{"image": "a.png", "question": "Is there a \xff dog?"}', "bad", "field 'question' is not valid UTF-8 (byte 0xff)"),
        (b'{"image": "a.png", \xff "question": "x"}', "bad", "not valid UTF-8 (byte 0xff at column 20)"),
        (b'{"image": "a.png", "question": ', "bad", "not valid JSON"),
        (b'["a.png", "Is it?"]', "bad", "not a JSON object"),
        (b"", "blank", ""),
        (b'{"image": "a.png", "question": NaN}', "bad", "field 'question' must be a non-empty string, got NaN"),
        (good(question=""), "bad", "field 'question' must be a non-empty string, got \"\""),
        (good(question=3), "bad", "field 'question' must be a non-empty string, got 3"),
        (b'{"image": "a.png", "question": "Is it?", "answer": NaN}', "bad", "field 'answer'"),
        (good(answer=3), "bad", "field 'answer'"),
        (good(id=7, choices=["1", "2", "3", "4"], question="How many red shapes are there?", answer="(B)") + b"\r", "good", "7"),
        (good(choices="abc"), "bad", "field 'choices' must be a list of 2 to 26 non-empty strings, got \"abc\""),
        (good(choices=["only"]), "bad", "field 'choices'"),
        (good(choices=["a", 2]), "bad", "field 'choices[1]'"),
        (b'{"image": "a.png", "question": "Is it?", "ground_truth": {"boxes": [[0, 0, NaN, 4]]}}', "bad", "field 'ground_truth.boxes[0]'"),
        (good(ground_truth={"boxes": [[0, 0, 4]]}), "bad", "field 'ground_truth.boxes[0]'"),
        (good(ground_truth={"boxes": [[4, 4, 0, 0]]}), "bad", "field 'ground_truth.boxes[0]' needs right > left"),
        (good(ground_truth={"words": "dog"}), "bad", "field 'ground_truth.words'"),
        (good(meta="x"), "bad", "field 'meta' must be an object"),
        (good(answer_pattern="(yes"), "bad", "field 'answer_pattern' is not a valid regex"),
        (line(question=YES_NO), "bad", "missing field 'image'"),
        (good(image="../outside/o.png"), "bad", "field 'image' '../outside/o.png' resolves to"),
        (good(image=str(outside / "o.png")), "bad", "field 'image'"),
        (good(image="big.png"), "bad", "field 'image': 'big.png' is 12000×12000 = 144.0 megapixels"),
        (good(id="gt", ground_truth={"boxes": [[1, 2, 30, 40]], "words": ["circle"]}, meta={"k": [1, 2.5]}, answer="no"), "good", "gt"),
        # beyond the list
        (good(id=1.5), "bad", "field 'id' must be a non-empty string or an integer, got 1.5"),
        (b'{"image": "a.png", "question": "Is it?", "meta": {"score": [1, -Infinity]}}', "bad", "field 'meta.score[1]' must be a finite number"),
        (b'{"image": "a.png", "question": 1e400}', "bad", "field 'question' must be a non-empty string, got 1e400"),
        (good(image="link.png"), "bad", "field 'image' 'link.png' resolves to"),
        (good(image="nowhere.png"), "bad", "field 'image': file not found"),
        (good(answer_pattern="yes|no"), "bad", "field 'answer_pattern' needs a capturing group"),
        (good(meta={"answer_pattern": "["}), "bad", "field 'meta.answer_pattern'"),
        (good(ground_truth={"box": [[0, 0, 1, 1]]}), "bad", "field 'ground_truth' has unknown keys ['box']"),
        (good(id="pattern", answer_pattern=r"(?i)\b(yes|no)\b"), "good", "pattern"),
        (good(id=0, question="How many red shapes are there?", choices=["1", "2", "3", "4"]), "good", "0"),
    ]
    path = data / "data.jsonl"
    path.write_bytes(b"\n".join(raw for raw, _, _ in lines) + b"\n")
    good_lines = {n: what for n, (_, kind, what) in enumerate(lines, 1) if kind == "good"}
    bad_lines = {n: what for n, (_, kind, what) in enumerate(lines, 1) if kind == "bad"}
    return path, good_lines, bad_lines


@pytest.fixture
def bad_corpus(tmp_path):
    return corpus(tmp_path)


def test_every_bad_line_is_one_invalid_row_naming_file_line_and_field(bad_corpus):
    path, good_lines, bad_lines = bad_corpus
    start = time.perf_counter()
    source = load_jsonl(path)
    rows = [source.row(i) for i in range(len(source))]
    assert time.perf_counter() - start < 5  # the 144-megapixel image was never decoded
    assert len(rows) == len(good_lines) + len(bad_lines)  # the blank line is skipped, not a row
    numbers = sorted([*good_lines, *bad_lines])
    for number, row in zip(numbers, rows):
        if number in good_lines:
            assert isinstance(row, Instance), (number, row)
            assert row.id == good_lines[number] and row.id == source.row_id(numbers.index(number))
        else:
            assert isinstance(row, InvalidRow), (number, row)
            assert row.reason.startswith(f"data.jsonl line {number}: "), row.reason
            assert bad_lines[number] in row.reason, (number, row.reason)
            assert row.id == source.row_id(numbers.index(number))
    assert sum(isinstance(r, InvalidRow) for r in rows) == len(bad_lines)
    by_id = {r.id: r for r in rows}
    assert by_id["data-7"].reason == "data.jsonl line 7: field 'question' must be a non-empty string, got NaN"
    assert by_id["7"].choices == ("1", "2", "3", "4") and by_id["0"].id == "0"
    assert by_id["gt"].ground_truth.boxes[0].bottom == 40.0 and by_id["gt"].meta == {"k": [1, 2.5]}
    assert by_id["pattern"].meta["answer_pattern"]
    assert by_id["first"].load_image().size == (64, 64) and by_id["first"].image == path.parent.resolve() / "a.png"


def test_one_line_can_name_several_fields_and_a_repeated_id(tmp_path):
    random_image(8, 8).save(tmp_path / "a.png")
    lines = [good(id="x"), good(id="x", question=3, choices="ab", meta=[1])]
    (tmp_path / "d.jsonl").write_text("\n".join(raw.decode() for raw in lines))
    row = load_jsonl(tmp_path / "d.jsonl").row(1)
    assert row.id == "x#line2" and row.reason.startswith("d.jsonl line 2: field 'id' repeats the id of line 1; ")
    assert all(f"field '{name}'" in row.reason for name in ("question", "choices", "meta"))


def test_allowed_roots_admit_outside_images_and_image_root_confines(tmp_path):
    path, _, _ = corpus(tmp_path)
    outside = tmp_path / "outside"
    rows = {r.id: r for r in (s.row(i) for s in [load_jsonl(path, allowed_roots=[str(outside)])] for i in range(len(s)))}
    assert isinstance(rows["data-23"], Instance) and isinstance(rows["data-24"], Instance)  # ../outside and absolute
    assert isinstance(rows["data-30"], Instance)  # the symlink into outside/
    # image_root moves the base and the confinement: a.png is no longer inside it
    source = open_dataset("jsonl", path=str(path), image_root=str(outside))
    rows = {r.id: r for r in (source.row(i) for i in range(len(source)))}
    assert isinstance(rows["first"], InvalidRow) and "field 'image': file not found: 'a.png'" in rows["first"].reason
    assert isinstance(rows["data-23"], Instance)  # "../outside/o.png", now inside image_root
    with pytest.raises(FileNotFoundError, match="image_root"):
        load_jsonl(path, image_root=tmp_path / "missing")


def test_pixel_budget_is_a_dataset_option_and_load_image_enforces_it(tmp_path):
    random_image(64, 64).save(tmp_path / "a.png")
    (tmp_path / "d.jsonl").write_bytes(good() + b"\n")
    row = open_dataset("jsonl", path=str(tmp_path / "d.jsonl"), max_megapixels=0.001).row(0)
    assert isinstance(row, InvalidRow) and "64×64 = 0.0 megapixels, over the pixel budget of 0.001 megapixels" in row.reason
    instance = open_dataset("jsonl", path=str(tmp_path / "d.jsonl"), max_megapixels=None).row(0)
    assert isinstance(instance, Instance) and instance.pixel_budget is None
    assert instance.load_image().size == (64, 64)
    small = Instance("s", tmp_path / "a.png", YES_NO, pixel_budget=1000)
    assert small == Instance("s", tmp_path / "a.png", YES_NO)  # the budget is not part of the identity
    with pytest.raises(ImageTooLargeError, match="image of instance 's' is 64×64"):
        small.load_image()
    with pytest.raises(ImageTooLargeError, match="over the pixel budget"):
        Instance("m", random_image(64, 64), YES_NO, pixel_budget=1000).load_image()
    with pytest.raises(ValueError, match="max_megapixels"):
        load_jsonl(tmp_path / "d.jsonl", max_megapixels="lots")


def test_huge_png_is_refused_from_its_header_fast(tmp_path):
    path = huge_png(tmp_path / "big.png")
    assert path.stat().st_size < 64_000
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="12000×12000 = 144.0 megapixels"):
        open_image(path)
    with pytest.raises(ImageTooLargeError):
        Instance("big", path, YES_NO).load_image()
    with pytest.raises(ImageTooLargeError):
        open_image(path.read_bytes(), budget=10**6)
    assert time.perf_counter() - start < 2
    assert read_image_size(path, budget=None) == (12000, 12000)


def test_confine_path(tmp_path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    roots = resolve_roots([tmp_path / "root"])
    assert confine_path("sub/../x.png", roots) == (tmp_path / "root" / "x.png").resolve()
    assert confine_path(str(tmp_path / "root" / "x.png"), roots) == (tmp_path / "root" / "x.png").resolve()
    for escaping in ("../x.png", "sub/../../x.png", "/etc/passwd", "a\x00b"):
        with pytest.raises(ImagePathError):
            confine_path(escaping, roots)


def test_repope_lines_are_checked_and_confined(tmp_path):
    coco, annotations = tmp_path / "val2014", tmp_path / "coco_repope_random.json"
    coco.mkdir()
    random_image(20, 20).save(coco / "a.jpg")
    huge_png(coco / "big.png")
    rows = [
        line(question_id=1, image="a.jpg", text="Is there a cat in the image?", label="yes"),
        b'{"question_id": 2, "image": "a.jpg", "text": NaN, "label": "no"}',
        line(question_id=3, image="../a.jpg", text="Is there a cat in the image?", label="no"),
        line(question_id=4, image="big.png", text="Is there a cat in the image?", label="no"),
        b'{"question_id": 5, "image": "a.jpg", "text": "Is there a \xff?", "label": "no"}',
        line(question_id=1, image="a.jpg", text="Is there a dog in the image?", label="no"),
        line(question_id=[7], image="a.jpg", text="Is there a dog in the image?", label="no"),
    ]
    annotations.write_bytes(b"\n".join(rows))
    source = open_dataset("repope", annotations=str(annotations), image_root=str(coco))
    built = [source.row(i) for i in range(len(source))]
    assert isinstance(built[0], Instance) and built[0].load_image().size == (20, 20)
    expected = {1: "field 'text'", 2: "field 'image' '../a.jpg' resolves to", 3: "12000×12000", 4: "field 'text' is not valid UTF-8",
                5: "field 'question_id' repeats the id of line 1", 6: "field 'question_id' must be a string or an integer"}
    for index, what in expected.items():
        assert isinstance(built[index], InvalidRow) and built[index].reason.startswith(f"coco_repope_random.json line {index + 1}: ")
        assert what in built[index].reason, built[index].reason
    assert [r.id for r in built][5:] == ["repope-random-1#line6", "repope-random-line7"]


def test_table_images_over_the_budget_fail_their_row(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    small, big = io.BytesIO(), huge_png(tmp_path / "big.png").read_bytes()
    random_image(40, 30).save(small, format="PNG")
    record = {"type": "2D", "task": "Count", "question": "How many?", "choices": ["1", "2"], "answer": "(A)"}
    table = pa.Table.from_pylist([
        record | {"idx": 0, "image": {"bytes": small.getvalue(), "path": None}},
        record | {"idx": 1, "image": {"bytes": big, "path": None}},
        record | {"idx": 2, "image": {"bytes": None, "path": str(tmp_path / "big.png")}},
    ])
    pq.write_table(table, tmp_path / "test.parquet")
    source = open_dataset("cvbench", source=str(tmp_path / "test.parquet"))
    assert isinstance(source.row(0), Instance) and source.row(0).pixel_budget == 64_000_000
    for index in (1, 2):
        assert isinstance(source.row(index), InvalidRow) and "field 'image': image is 12000×12000" in source.row(index).reason
    assert isinstance(open_dataset("cvbench", source=str(tmp_path / "test.parquet"), max_megapixels=0.001).row(0), InvalidRow)


def test_runner_records_one_load_failure_per_bad_line(tmp_path):
    from synfaith.runs import RunStore, parse_config, run

    path, good_lines, bad_lines = corpus(tmp_path)
    config = parse_config({
        "output_dir": str(tmp_path / "run"),
        "models": [{"path": "toy", "name": "toy", "device": "cpu", "batch_size": 32}],
        "datasets": [{"kind": "jsonl", "name": "mine", "options": {"path": str(path)}}],
        "explainers": [{"name": "random"}],
        "metrics": {"compute": ["redundancy"]},
        "execution": {"progress": False},
    })
    summary = run(config)
    rows = RunStore(tmp_path / "run").read_rows()
    assert len(rows) == len(good_lines) + len(bad_lines) and summary.failures == len(bad_lines)
    failed = rows[rows.status == "failed"]
    assert set(failed.stage) == {"load"} and len(failed) == len(bad_lines)
    for number, what in bad_lines.items():
        (message,) = [m for m in failed.message if m.startswith(f"data.jsonl line {number}: ")]
        assert what in message
    ok = rows[rows.status == "ok"]
    assert sorted(ok.instance_id) == sorted(good_lines.values()) and ok.modality_dividend.notna().all()
