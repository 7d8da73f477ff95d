"""Reading JSON-lines files strictly: line by line from bytes, one reason per bad line.

Shared by the JSONL and RePOPE loaders. :class:`JsonLines` reads a file's non-blank lines,
gives each its row id (repeated ids kept apart, ``<id>#line<n>``), and parses a line into an
object or the reasons it is not one; :meth:`JsonLines.invalid` turns the reasons into the
InvalidRow that names the file and the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from synfaith.data.source import InvalidRow

BOM = b"\xef\xbb\xbf"


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


class JsonLines:
    """A JSON-lines file: its non-blank lines, their row ids, and each line parsed on demand.

    Args:
        path: the file.
        row_id: ``(parsed record or None, line number) -> id`` (None: the line does not parse).
        id_field: the field ids come from, for the "repeats the id" reason.
    """

    def __init__(self, path: Path, row_id: Callable[[Any, int], str], id_field: str) -> None:
        self.path = path
        self.id_field = id_field
        self.lines = read_lines(path)
        self.numbers = [number for number, _ in self.lines]
        self.ids = []
        for number, raw in self.lines:
            try:
                record = parse_line(raw)
            except LineError:
                record = None
            self.ids.append(row_id(record, number))
        self.duplicate_of = keep_apart(self.ids, self.numbers)

    def __len__(self) -> int:
        return len(self.lines)

    def record(self, index: int) -> tuple[dict[str, Any] | None, list[str]]:
        """Line ``index`` as a JSON object (None when it is not one) and the reasons found so far."""
        raw = self.lines[index][1]
        errors: list[str] = []
        if index in self.duplicate_of:
            errors.append(f"field {self.id_field!r} repeats the id of line {self.numbers[self.duplicate_of[index]]}")
        try:
            record = parse_line(raw)
        except LineError as error:
            return None, [*errors, str(error)]
        if not isinstance(record, dict):
            return None, [*errors, f"not a JSON object (got {describe(record)})"]
        return record, errors

    def invalid(self, index: int, errors: Sequence[str]) -> InvalidRow:
        """The failure row of line ``index``: ``<file> line <n>: <reasons>``."""
        return InvalidRow(self.ids[index], printable(f"{self.path.name} line {self.numbers[index]}: {'; '.join(errors)}"))
