"""synfaith's JSONL format: one visual question per line, for anyone's data.

Each non-blank line is a JSON object; fields are typed strictly::

    {"id": "q1",                              # optional: a non-empty string or an integer;
                                              #   absent/null: "<file stem>-<line number>"
     "image": "images/q1.png",                # required: a non-empty string (a path, see below)
     "question": "Is there a dog?",           # required: a non-empty string
     "choices": ["cat", "dog"],               # optional: 2 to 26 non-empty strings, lettered (A), (B), …
     "answer": "yes",                         # optional: a non-empty string ("yes"/"no", a letter "(B)") or null
     "ground_truth": {"boxes": [[l, t, r, b]], "words": ["dog"]},   # optional: boxes of 4 finite
                                              #   numbers with r > l and b > t; words: non-empty strings
     "meta": {"subset": "…"},                 # optional: an object of free-form fields
     "answer_pattern": "…",                   # optional: a regex with one capturing group (the answer)
     "answer_type": "open"}                   # optional: yes_no, choice (needs choices) or open — the whole
                                              #   generated answer is the target (docs/open-answers.md); an open
                                              #   line's answer may be a list of acceptable strings

Other keys are ignored. The file is read as bytes and each line decoded as UTF-8 on its own (a
BOM on line 1 is fine); JSON's ``NaN``/``Infinity`` and numbers that overflow to infinity are
refused wherever they appear, as are strings that are not valid UTF-8.

**Images.** A path resolves relative to ``image_root`` (default: the JSONL file's folder) and
must stay inside it after ``..`` and symlinks are resolved; an absolute path, or one that
escapes, is refused unless a folder named in ``allowed_roots`` contains it. The image's header
is read when the row is built: a missing file, or one over the pixel budget (``max_megapixels``,
default 64), fails the row; an unreadable file fails later, when a model prepares it.

**Bad lines.** A line that breaks any rule becomes one :class:`~synfaith.data.InvalidRow` (a
failure row at stage ``load``) whose reason names the file, the line and every field at fault,
e.g. ``data.jsonl line 7: field 'question' must be a non-empty string, got NaN``; the other lines
load as usual. A repeated id keeps the first line and fails the later ones (id ``<id>#line<n>``).

``synfaith data synth`` writes this format; :func:`load_jsonl` reads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synfaith.data.answer_types import OPEN, answer_type_problem
from synfaith.data.images import (
    ImagePathError,
    ImageTooLargeError,
    budget_of,
    confine_path,
    read_image_size,
    resolve_roots,
)
from synfaith.data.instance import Box, GroundTruth, Instance
from synfaith.data.json_lines import JsonLines, NonFinite, describe
from synfaith.data.source import DatasetSource, Row

_FIELD = re.compile(r"(?:missing )?field '([^'.\[]+)")  # the top-level field an error names


def _bad_text(text: str) -> str | None:
    """Why a string is refused (bytes that were not UTF-8, unpaired surrogates), or None."""
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            if 0xDC80 <= ord(char) <= 0xDCFF:
                return f"is not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x})"
            return f"holds an unpaired surrogate (\\u{ord(char):04x})"
    return None


def value_problems(value: Any, where: str) -> list[str]:
    """Non-finite numbers and non-UTF-8 strings anywhere in ``value``, each naming its field path."""
    if isinstance(value, NonFinite):
        return [f"field {where!r} must be a finite number, got {value.text}"]
    if isinstance(value, str):
        problem = _bad_text(value)
        return [f"field {where!r} {problem}"] if problem else []
    problems = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            problems += value_problems(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _bad_text(key):
                problems.append(f"a key of field {where!r} {_bad_text(key)}")
            problems += value_problems(item, f"{where}.{key}")
    return problems


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def record_id(record: Any, default: str) -> tuple[str, str | None]:
    """The row id of a parsed line and the problem with its ``id`` field, if any."""
    value = record.get("id") if isinstance(record, dict) else None
    if value is None:
        return default, None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    if _is_text(value) and not _bad_text(value):
        return value, None
    return default, f"field 'id' must be a non-empty string or an integer, got {describe(value)}"


def check_pattern(value: Any, where: str) -> str | None:
    """Why ``value`` is not a usable answer pattern (a regex with a capturing group), or None."""
    if not _is_text(value):
        return f"field {where!r} must be a non-empty string (a regex), got {describe(value)}"
    try:
        groups = re.compile(value).groups
    except re.error as error:
        return f"field {where!r} is not a valid regex: {error}"
    except (RecursionError, OverflowError, ValueError) as error:
        return f"field {where!r} is not a usable regex: {error}"
    return None if groups else f"field {where!r} needs a capturing group (the answer), got {describe(value)}"


def parse_ground_truth(value: Any, errors: list[str]) -> GroundTruth | None:
    """``{"boxes": [[l, t, r, b], …], "words": [...]}`` (either key optional), problems into ``errors``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(f"field 'ground_truth' must be an object with 'boxes' and/or 'words', got {describe(value)}")
        return None
    unknown = sorted(set(value) - {"boxes", "words"})
    if unknown:
        errors.append(f"field 'ground_truth' has unknown keys {unknown} (expected 'boxes', 'words')")
    boxes, words = [], []
    raw_boxes = value.get("boxes")
    if raw_boxes is not None and not isinstance(raw_boxes, list):
        errors.append(f"field 'ground_truth.boxes' must be a list of [left, top, right, bottom], got {describe(raw_boxes)}")
    for i, box in enumerate(raw_boxes if isinstance(raw_boxes, list) else ()):
        where = f"ground_truth.boxes[{i}]"
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(x) for x in box)):
            errors.append(f"field {where!r} must be 4 finite numbers [left, top, right, bottom], got {describe(box)}")
        elif not (box[2] > box[0] and box[3] > box[1]):
            errors.append(f"field {where!r} needs right > left and bottom > top, got {describe(box)}")
        else:
            boxes.append(Box(*(float(x) for x in box)))
    raw_words = value.get("words")
    if raw_words is not None and not (isinstance(raw_words, list) and all(_is_text(w) for w in raw_words)):
        errors.append(f"field 'ground_truth.words' must be a list of non-empty strings, got {describe(raw_words)}")
    elif raw_words:
        words = raw_words
    if not value:
        return None
    return GroundTruth(boxes=tuple(boxes), words=tuple(words))


def check_record(record: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """The typed fields of one record (image as written); every problem, naming its field, into ``errors``."""
    fields: dict[str, Any] = {}
    for key in ("image", "question"):
        value = record.get(key)
        if value is None:
            errors.append(f"missing field {key!r}")
        elif not _is_text(value):
            errors.append(f"field {key!r} must be a non-empty string, got {describe(value)}")
        fields[key] = value
    answer, answers = record.get("answer"), None
    meta = record.get("meta")
    answer_type = record["answer_type"] if record.get("answer_type") is not None else meta.get("answer_type") if isinstance(meta, dict) else None
    if answer_type == OPEN and isinstance(answer, list) and answer and all(_is_text(a) for a in answer):
        answers, answer = list(answer), answer[0]  # acceptable answers of an open question; the first is the reference shown
    elif answer is not None and not _is_text(answer):
        accepted = "a non-empty string, a list of them (answer_type open) or null" if answer_type == OPEN else "a non-empty string or null"
        errors.append(f"field 'answer' must be {accepted}, got {describe(answer)}")
    fields["answer"] = answer
    choices = record.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not 2 <= len(choices) <= 26:
            errors.append(f"field 'choices' must be a list of 2 to 26 non-empty strings, got {describe(choices)}")
        else:
            errors += [f"field 'choices[{i}]' must be a non-empty string, got {describe(c)}" for i, c in enumerate(choices) if not _is_text(c)]
        choices = tuple(choices) if isinstance(choices, list) else None
    fields["choices"] = choices
    meta = record.get("meta")
    if meta is not None and not isinstance(meta, dict):
        errors.append(f"field 'meta' must be an object, got {describe(meta)}")
    fields["meta"] = dict(meta) if isinstance(meta, dict) else {}
    if record.get("answer_pattern") is not None:
        problem = check_pattern(record["answer_pattern"], "answer_pattern")
        fields["meta"]["answer_pattern"] = record["answer_pattern"]
    elif fields["meta"].get("answer_pattern") is not None:  # the same setting, given inside meta
        problem = check_pattern(fields["meta"]["answer_pattern"], "meta.answer_pattern")
    else:
        problem = None
    errors += [problem] if problem else []
    problem = answer_type_problem(answer_type, choices, "answer_type" if record.get("answer_type") is not None else "meta.answer_type")
    if problem is None and answer_type == OPEN and fields["meta"].get("answer_pattern") is not None:
        problem = "field 'answer_type' is 'open' (the whole answer) but 'answer_pattern' cuts one out of the response: drop one"
    errors += [problem] if problem else []
    if answer_type is not None:
        fields["meta"]["answer_type"] = answer_type
    if answers is not None:
        fields["meta"]["answers"] = answers
    fields["ground_truth"] = parse_ground_truth(record.get("ground_truth"), errors)
    # non-finite numbers and non-UTF-8 text anywhere, unless the field was already reported
    reported = {match.group(1) for error in errors if (match := _FIELD.match(error))}
    for key, value in record.items():
        if key not in reported:
            errors += value_problems(value, key)
    return fields


def image_problem(value: str, roots: Sequence[Path], budget: int | None) -> tuple[Path | None, str | None]:
    """The confined image path, and why the row cannot use it (outside the roots, missing, over budget)."""
    try:
        image = confine_path(value, roots, what="field 'image'")
    except ImagePathError as error:
        return None, str(error)
    try:
        read_image_size(image, budget=budget, what=f"field 'image': {value!r}")
    except ImageTooLargeError as error:
        return image, str(error)
    except FileNotFoundError:
        return image, f"field 'image': file not found: {value!r} (resolved to {image})"
    except (OSError, ValueError):  # unreadable: the model's prepare step reports it
        pass
    return image, None


def load_jsonl(
    path: str | Path,
    image_root: str | Path | None = None,
    name: str | None = None,
    *,
    max_megapixels: float | None = 64,
    allowed_roots: Sequence[str | Path] | None = None,
) -> DatasetSource:
    """A JSONL dataset (format above).

    Args:
        path: the ``.jsonl`` file.
        image_root: the folder images resolve against and must stay inside (default: the file's folder).
        name: the dataset's name (default: the file's stem).
        max_megapixels: the pixel budget of each image (None: no budget).
        allowed_roots: further folders image paths (absolute or relative) may resolve into.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSONL dataset not found: {path}")
    root = Path(image_root) if image_root is not None else path.parent
    if not root.is_dir():
        raise FileNotFoundError(f"image_root is not a folder: {root}")
    roots = resolve_roots([root, *(allowed_roots or ())])
    budget = budget_of(max_megapixels)
    lines = JsonLines(path, lambda record, number: record_id(record, f"{path.stem}-{number}")[0], "id")

    def build(index: int) -> Row:
        record, errors = lines.record(index)
        if record is None:
            return lines.invalid(index, errors)
        id_problem = record_id(record, "")[1]
        errors += [id_problem] if id_problem else []
        try:
            fields = check_record(record, errors)
        except RecursionError:
            errors.append("a field is nested too deeply")
        if errors:
            return lines.invalid(index, errors)
        image, problem = image_problem(fields["image"], roots, budget)
        if problem:
            errors.append(problem)
            return lines.invalid(index, errors)
        return Instance(
            id=lines.ids[index],
            image=image,
            question=fields["question"],
            choices=fields["choices"],
            answer=fields["answer"],
            meta=fields["meta"],
            ground_truth=fields["ground_truth"],
            pixel_budget=budget,
        )

    return DatasetSource(name or path.stem, len(lines), build, lines.ids)
