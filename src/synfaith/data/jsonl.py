"""synfaith's JSONL format: one visual question per line, for anyone's data.

Each line is a JSON object::

    {"id": "q1",                              # optional; default: "<file stem>-<line number>"
     "image": "images/q1.png",                # required; relative to image_root or the file's folder
     "question": "Is there a dog?",           # required, non-empty
     "choices": ["cat", "dog"],               # optional: multiple choice, lettered (A), (B), …
     "answer": "yes",                         # optional: "yes"/"no" or a choice letter such as "(B)"
     "ground_truth": {"boxes": [[l, t, r, b]], "words": ["dog"]},   # optional evidence
     "meta": {"subset": "…"},                 # optional free-form fields
     "answer_pattern": "…"}                   # optional regex for other answer formats

``synfaith data synth`` writes this format; :func:`load_jsonl` reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synfaith.data.instance import Box, GroundTruth, Instance
from synfaith.data.source import DatasetSource, InvalidRow, Row

REQUIRED = ("image", "question")


def parse_ground_truth(value: Any) -> GroundTruth | None:
    """``{"boxes": [[l, t, r, b], …], "words": [...]}`` (either key optional) as a GroundTruth."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"ground_truth must be an object with 'boxes' and/or 'words', got {type(value).__name__}")
    boxes = []
    for box in value.get("boxes") or ():
        if len(box) != 4:
            raise ValueError(f"a ground-truth box needs 4 numbers [left, top, right, bottom], got {box!r}")
        boxes.append(Box(*(float(x) for x in box)))
    return GroundTruth(boxes=tuple(boxes), words=tuple(value.get("words") or ()))


def instance_from_record(record: dict[str, Any], row_id: str, image_root: Path) -> Row:
    """One JSONL record as an Instance, or an InvalidRow naming what is wrong."""
    # an absent field is "missing"; an empty question is reported by Instance itself
    missing = [key for key in REQUIRED if record.get(key) is None or (key == "image" and record[key] == "")]
    if missing:
        return InvalidRow(row_id, f"missing field {', '.join(repr(m) for m in missing)}")
    meta = dict(record.get("meta") or {})
    if record.get("answer_pattern"):
        meta["answer_pattern"] = record["answer_pattern"]
    image = Path(record["image"])
    return Instance(
        id=row_id,
        image=image if image.is_absolute() else image_root / image,
        question=str(record["question"]),
        choices=tuple(str(c) for c in record["choices"]) if record.get("choices") else None,
        answer=None if record.get("answer") is None else str(record["answer"]),
        meta=meta,
        ground_truth=parse_ground_truth(record.get("ground_truth")),
    )


def load_jsonl(path: str | Path, image_root: str | Path | None = None, name: str | None = None) -> DatasetSource:
    """A JSONL dataset (format above); images resolve against ``image_root`` or the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSONL dataset not found: {path}")
    root = Path(image_root) if image_root is not None else path.parent
    lines = [(number, line) for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    ids = []
    for number, line in lines:
        try:
            ids.append(str(json.loads(line).get("id") or f"{path.stem}-{number}"))
        except (json.JSONDecodeError, AttributeError):
            ids.append(f"{path.stem}-{number}")

    first_with_id: dict[str, int] = {}
    duplicate_of: dict[int, int] = {}
    for i, row_id in enumerate(ids):
        if row_id in first_with_id:  # would share the first row's results: keep it apart, and say so
            duplicate_of[i] = first_with_id[row_id]
            ids[i] = f"{row_id}#line{lines[i][0]}"
        else:
            first_with_id[row_id] = i

    def build(index: int) -> Row:
        number, line = lines[index]
        if index in duplicate_of:
            return InvalidRow(ids[index], f"line {number} repeats the id of line {lines[duplicate_of[index]][0]}")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            return InvalidRow(ids[index], f"line {number} is not valid JSON: {error.msg}")
        if not isinstance(record, dict):
            return InvalidRow(ids[index], f"line {number} is not a JSON object")
        return instance_from_record(record, ids[index], root)

    return DatasetSource(name or path.stem, len(lines), build, ids)
