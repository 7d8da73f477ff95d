"""RePOPE (Neuhaus & Hein 2025): POPE's yes/no object questions with corrected labels, on COCO val2014.

Annotation files ``coco_repope_{random,popular,adversarial}.json`` hold one JSON object per
line: ``{"question_id", "image": "COCO_val2014_….jpg", "text": "Is there a <object> in the
image?", "label": "yes"|"no"}``. Images come from a local COCO val2014 folder. The object
named in the question is recorded as its deciding word (no boxes: RePOPE has none).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from synfaith.data.instance import GroundTruth, Instance
from synfaith.data.source import DatasetSource, InvalidRow, Row

SPLITS = ("random", "popular", "adversarial")
_OBJECT = re.compile(r"^is there an? (.+?) in the image\??$", re.IGNORECASE)


def load_repope(annotations: str | Path, image_root: str | Path, split: str = "random") -> DatasetSource:
    """RePOPE from its annotations (a file, or the folder holding ``coco_repope_<split>.json``)."""
    annotations = Path(annotations)
    if annotations.is_dir():
        if split not in SPLITS:
            raise ValueError(f"unknown RePOPE split {split!r}; choose one of {', '.join(SPLITS)}")
        annotations = annotations / f"coco_repope_{split}.json"
    if not annotations.is_file():
        raise FileNotFoundError(f"RePOPE annotations not found: {annotations}")
    image_root = Path(image_root)
    if not image_root.is_dir():
        raise FileNotFoundError(f"COCO val2014 image folder not found: {image_root}")
    lines = [line for line in annotations.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise json.JSONDecodeError("not a JSON object", line, 0)
            records.append(record)
        except json.JSONDecodeError as error:
            records.append(InvalidRow(f"repope-{split}-line{number}", f"line {number} is not valid JSON: {error.msg}"))
    ids = [r.id if isinstance(r, InvalidRow) else f"repope-{split}-{r.get('question_id', n)}" for n, r in enumerate(records)]

    def build(index: int) -> Row:
        record = records[index]
        if isinstance(record, InvalidRow):
            return record
        missing = [k for k in ("image", "text", "label") if not record.get(k)]
        if missing:
            return InvalidRow(ids[index], f"missing field {', '.join(repr(m) for m in missing)}")
        label = str(record["label"]).strip().lower()
        if label not in ("yes", "no"):
            return InvalidRow(ids[index], f"label must be 'yes' or 'no', got {record['label']!r}")
        match = _OBJECT.match(record["text"].strip())
        truth = GroundTruth(words=(match.group(1),)) if match else None
        return Instance(
            id=ids[index],
            image=image_root / record["image"],
            question=record["text"],
            answer=label,
            meta={"dataset": "repope", "split": split, "question_id": record.get("question_id")},
            ground_truth=truth,
        )

    return DatasetSource(f"repope-{split}", len(records), build, ids)
