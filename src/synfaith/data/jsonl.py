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
     "answer_pattern": "…"}                   # optional: a regex with one capturing group (the answer)

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

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synfaith.data.images import (
    ImagePathError,
    ImageTooLargeError,
    budget_of,
    confine_path,
    read_image_size,
    resolve_roots,
)
from synfaith.data.instance import Box, GroundTruth, Instance
from synfaith.data.source import DatasetSource, InvalidRow, Row

BOM = b"\xef\xbb\xbf"
_FIELD = re.compile(r"(?:missing )?field '([^'.\[]+)")  # the top-level field an error names


class LineError(ValueError):
    """A line that is not a JSON value at all (the message says why)."""


class NonFinite:
    """A ``NaN``, ``Infinity`` or overflowing number in the JSON text; never a valid value."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def read_lines(path: Path) -> list[tuple[int, bytes]]:
    """``(line number, raw bytes)`` of every non-blank line; a UTF-8 BOM on line 1 is dropped."""
    data = path.read_bytes()
    data = data.removeprefix(BOM)
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        if raw.strip():
            lines.append((number, raw))
    return lines


def parse_line(raw: bytes) -> Any:
    """One line's JSON value. Bytes that are not UTF-8 inside strings survive as lone surrogates
    (reported by :func:`value_problems` with the field); anywhere else they fail the line.

    Raises:
        LineError: not UTF-8 outside strings, or not valid JSON.
    """
    try:
        raw.decode("utf-8")
        encoding_error = None
    except UnicodeDecodeError as error:
        encoding_error = f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
    text = raw.decode("utf-8", errors="surrogateescape")
    try:
        return json.loads(text, parse_constant=NonFinite, parse_float=_float)
    except json.JSONDecodeError as error:
        raise LineError(encoding_error or f"not valid JSON: {error.msg} at column {error.colno}") from None
    except (ValueError, RecursionError) as error:  # over-long integers, nesting too deep
        raise LineError(encoding_error or f"not valid JSON: {type(error).__name__}: {error}") from None


def _render(value: Any, depth: int = 0) -> str:
    if isinstance(value, NonFinite):
        return value.text
    if isinstance(value, (list, dict)) and depth > 3:
        return "[…]" if isinstance(value, list) else "{…}"
    if isinstance(value, list):
        items = [_render(item, depth + 1) for item in value[:8]] + (["…"] if len(value) > 8 else [])
        return f"[{', '.join(items)}]"
    if isinstance(value, dict):
        items = [f"{json.dumps(k, ensure_ascii=False)}: {_render(v, depth + 1)}" for k, v in list(value.items())[:8]]
        return "{" + ", ".join(items + (["…"] if len(value) > 8 else [])) + "}"
    return json.dumps(value, ensure_ascii=False)


def describe(value: Any) -> str:
    """A value as the JSON a user wrote, short: ``NaN``, ``3``, ``"abc"``, ``[0, NaN]``, ``null``."""
    text = _render(value[:200] if isinstance(value, str) else value)
    return text if len(text) <= 60 else text[:57] + "…"


def printable(text: str) -> str:
    """``text`` with any lone surrogates (bytes that were not UTF-8) written as ``\\udcff`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
    answer = record.get("answer")
    if answer is not None and not _is_text(answer):
        errors.append(f"field 'answer' must be a non-empty string or null, got {describe(answer)}")
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
    fields["ground_truth"] = parse_ground_truth(record.get("ground_truth"), errors)
    # non-finite numbers and non-UTF-8 text anywhere, unless the field was already reported
    reported = {match.group(1) for error in errors if (match := _FIELD.match(error))}
    for key, value in record.items():
        if key not in reported:
            errors += value_problems(value, key)
    return fields


def keep_apart(ids: list[str], numbers: Sequence[int]) -> dict[int, int]:
    """Rename repeated ids in place (``<id>#line<n>``); ``{index: index of the first with that id}``."""
    first_with_id: dict[str, int] = {}
    duplicate_of: dict[int, int] = {}
    for i, row_id in enumerate(list(ids)):
        if row_id in first_with_id:  # would share the first row's results: keep it apart, and say so
            duplicate_of[i] = first_with_id[row_id]
            ids[i] = f"{row_id}#line{numbers[i]}"
        else:
            first_with_id[row_id] = i
    return duplicate_of


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
    lines = read_lines(path)
    numbers = [number for number, _ in lines]
    ids = []
    for number, raw in lines:
        try:
            record = parse_line(raw)
        except LineError:
            record = None
        ids.append(record_id(record, f"{path.stem}-{number}")[0])
    duplicate_of = keep_apart(ids, numbers)

    def build(index: int) -> Row:
        number, raw = lines[index]
        errors: list[str] = []
        if index in duplicate_of:
            errors.append(f"field 'id' repeats the id of line {numbers[duplicate_of[index]]}")

        def invalid() -> InvalidRow:
            return InvalidRow(ids[index], printable(f"{path.name} line {number}: {'; '.join(errors)}"))

        try:
            record = parse_line(raw)
        except LineError as error:
            errors.append(str(error))
            return invalid()
        if not isinstance(record, dict):
            errors.append(f"not a JSON object (got {describe(record)})")
            return invalid()
        id_problem = record_id(record, "")[1]
        errors += [id_problem] if id_problem else []
        try:
            fields = check_record(record, errors)
        except RecursionError:
            errors.append("a field is nested too deeply")
        if errors:
            return invalid()
        image, problem = image_problem(fields["image"], roots, budget)
        if problem:
            errors.append(problem)
            return invalid()
        return Instance(
            id=ids[index],
            image=image,
            question=fields["question"],
            choices=fields["choices"],
            answer=fields["answer"],
            meta=fields["meta"],
            ground_truth=fields["ground_truth"],
            pixel_budget=budget,
        )

    return DatasetSource(name or path.stem, len(lines), build, ids)
