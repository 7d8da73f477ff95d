"""RePOPE (Neuhaus & Hein 2025): POPE's yes/no object questions with corrected labels, on COCO val2014.

Annotation files ``coco_repope_{random,popular,adversarial}.json`` hold one JSON object per
line: ``{"question_id", "image": "COCO_val2014_….jpg", "text": "Is there a <object> in the
image?", "label": "yes"|"no"}``. Images come from a local COCO val2014 folder. The object
named in the question is recorded as its deciding word (no boxes: RePOPE has none).

Lines are read as in :mod:`synfaith.data.jsonl`: each decoded as UTF-8 on its own, non-finite
numbers refused, and a bad line is one InvalidRow naming the file, the line and the field.
``question_id`` is a string or an integer; ``image`` must resolve inside ``image_root`` (after
``..`` and symlinks) and its header must be within the pixel budget (``max_megapixels``).
"""

from __future__ import annotations

import re
from pathlib import Path

from synfaith.data.images import budget_of, resolve_roots
from synfaith.data.instance import GroundTruth, Instance
from synfaith.data.json_lines import JsonLines, describe
from synfaith.data.jsonl import image_problem, value_problems
from synfaith.data.source import DatasetSource, Row

SPLITS = ("random", "popular", "adversarial")
_OBJECT = re.compile(r"^is there an? (.+?) in the image\??$", re.IGNORECASE)


def _question_id(record: object) -> tuple[str | int | None, str | None]:
    """A record's ``question_id`` and the problem with it, if any."""
    value = record.get("question_id") if isinstance(record, dict) else None
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value, None
    if isinstance(value, str) and value.strip():
        problems = value_problems(value, "question_id")
        return (None, problems[0]) if problems else (value, None)
    return None, f"field 'question_id' must be a string or an integer, got {describe(value)}"


def load_repope(annotations: str | Path, image_root: str | Path, split: str = "random", *, max_megapixels: float | None = 64) -> DatasetSource:
    """RePOPE from its annotations (a file, or the folder holding ``coco_repope_<split>.json``).

    Args:
        annotations: the annotation file or its folder.
        image_root: the COCO val2014 folder; image paths must stay inside it.
        split: ``random``, ``popular`` or ``adversarial`` (when ``annotations`` is a folder).
        max_megapixels: the pixel budget of each image (None: no budget).
    """
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
    roots = resolve_roots([image_root])
    budget = budget_of(max_megapixels)

    def row_id(record: object, number: int) -> str:
        question_id = _question_id(record)[0]
        return f"repope-{split}-{question_id}" if question_id is not None else f"repope-{split}-line{number}"

    lines = JsonLines(annotations, row_id, "question_id")

    def build(index: int) -> Row:
        record, errors = lines.record(index)
        if record is None:
            return lines.invalid(index, errors)
        errors += [p for p in [_question_id(record)[1]] if p]
        for key in ("image", "text", "label"):
            value = record.get(key)
            if value is None:
                errors.append(f"missing field {key!r}")
            elif not isinstance(value, str) or not value.strip():
                errors.append(f"field {key!r} must be a non-empty string, got {describe(value)}")
            else:
                errors += value_problems(value, key)
        if errors:
            return lines.invalid(index, errors)
        label = record["label"].strip().lower()
        if label not in ("yes", "no"):
            errors.append(f"field 'label' must be 'yes' or 'no', got {describe(record['label'])}")
            return lines.invalid(index, errors)
        image, problem = image_problem(record["image"], roots, budget)
        if problem:
            errors.append(problem)
            return lines.invalid(index, errors)
        match = _OBJECT.match(record["text"].strip())
        truth = GroundTruth(words=(match.group(1),)) if match else None
        return Instance(
            id=lines.ids[index],
            image=image,
            question=record["text"],
            answer=label,
            meta={"dataset": "repope", "split": split, "question_id": record.get("question_id")},
            ground_truth=truth,
            pixel_budget=budget,
        )

    return DatasetSource(f"repope-{split}", len(lines), build, lines.ids)
