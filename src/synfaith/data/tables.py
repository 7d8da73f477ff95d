"""Tabular datasets (CV-Bench, MMStar): a Hugging Face dataset name or a local Parquet/Arrow path.

Local files are read with pyarrow (a ``.parquet`` file, a folder of them, or a ``datasets``
``.arrow`` file); a name goes through ``datasets.load_dataset``, which needs the hub or the
local ``datasets`` cache. Image columns may hold ``{"bytes", "path"}`` structs (Parquet) or
decoded PIL images (``datasets``). Every image is held to the pixel budget (``max_megapixels``,
default 64), checked from the header before bytes or files are decoded; an image over it is a
failure row at stage ``load`` naming its size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image

from synfaith.data.images import (
    DEFAULT_PIXEL_BUDGET,
    ImageTooLargeError,
    budget_of,
    check_size,
    open_image,
)
from synfaith.data.instance import Box, GroundTruth, Instance
from synfaith.data.source import DatasetSource, InvalidRow, Row


class DatasetNotAvailableError(FileNotFoundError):
    """A dataset named by hub id is neither cached locally nor downloadable here."""


def read_table(source: str | Path, config: str | None = None, split: str = "test"):
    """Rows of a table as a ``pyarrow.Table`` (local path) or a ``datasets.Dataset`` (hub name)."""
    path = Path(source)
    if path.exists():
        import pyarrow as pa
        import pyarrow.dataset as ds

        if path.suffix == ".arrow":
            with pa.memory_map(str(path)) as stream:
                try:
                    return pa.ipc.open_stream(stream).read_all()
                except pa.ArrowInvalid:
                    return pa.ipc.open_file(stream).read_all()
        files = sorted(path.glob("**/*.parquet")) if path.is_dir() else [path]
        if split and path.is_dir():
            in_split = [f for f in files if split in f.name or split in f.parent.name]
            files = in_split or files
        if not files:
            raise FileNotFoundError(f"no .parquet files under {path}")
        return ds.dataset([str(f) for f in files], format="parquet").to_table()
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is a dependency
        raise DatasetNotAvailableError(f"{source!r} is not a local path and the 'datasets' package is missing") from error
    from synfaith.hub import HubUnreachableError, offline, reachable

    unreachable = None
    if not offline():
        try:
            reachable(str(source), "dataset")  # bounded: the hub's first answer has no timeout of its own
        except HubUnreachableError as error:
            unreachable = error
    previous = datasets.config.HF_HUB_OFFLINE
    try:
        if unreachable is not None:
            datasets.config.HF_HUB_OFFLINE = True  # the local cache only: do not wait on the hub again
        return datasets.load_dataset(str(source), config, split=split)
    except Exception as error:  # noqa: BLE001 - datasets raises many types for "offline" and "not found"
        reason = str(unreachable) if unreachable is not None else f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        raise DatasetNotAvailableError(
            f"cannot load dataset {source!r} (config {config!r}, split {split!r}): {reason}. "
            "Without hub access, download it elsewhere (e.g. its Parquet files) and pass the local path instead."
        ) from None
    finally:
        datasets.config.HF_HUB_OFFLINE = previous


def table_rows(table) -> tuple[int, Any]:
    """``(length, row(i) -> dict)`` for a pyarrow Table or a datasets.Dataset."""
    if hasattr(table, "slice") and hasattr(table, "schema") and not hasattr(table, "features"):
        return table.num_rows, lambda i: table.slice(i, 1).to_pylist()[0]
    return len(table), lambda i: table[i]


def table_ids(table, column: str, prefix: str) -> list[str]:
    """``prefix-<column value>`` for every row (the row position where the column is absent or empty)."""
    names = table.column_names if hasattr(table, "column_names") else list(table.features)
    values = (table.column(column).to_pylist() if hasattr(table, "schema") and not hasattr(table, "features") else table[column]) if column in names else []
    return [f"{prefix}-{v if v is not None else i}" for i, v in enumerate(values)] if values else [f"{prefix}-{i}" for i in range(len(table))]


def decode_image(value: Any, budget: int | None = DEFAULT_PIXEL_BUDGET) -> Image.Image:
    """An image column value (PIL image, ``{"bytes", "path"}`` struct, raw bytes) as RGB.

    Raises:
        ImageTooLargeError: over ``budget`` pixels (bytes and files: checked before decoding).
        ValueError: an empty or unreadable value.
    """
    if isinstance(value, Image.Image):
        check_size(*value.size, budget)
        return value.convert("RGB")
    if isinstance(value, dict):
        if value.get("bytes"):
            value = value["bytes"]
        elif value.get("path"):
            return open_image(value["path"], budget=budget)
        else:
            raise ValueError("the image column is empty")
    if isinstance(value, (bytes, bytearray)):
        return open_image(bytes(value), budget=budget)
    raise ValueError(f"cannot read an image from a {type(value).__name__}")


def _boxes(value: Any) -> tuple[Box, ...]:
    """Boxes from a ``[x1, y1, x2, y2]`` or a list of them; anything else gives none."""
    if not value:
        return ()
    if all(isinstance(x, (int, float)) for x in value) and len(value) == 4:
        value = [value]
    boxes = []
    for box in value:
        if isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(x, (int, float)) for x in box):
            left, top, right, bottom = (float(x) for x in box)
            if right > left and bottom > top:
                boxes.append(Box(left, top, right, bottom))
    return tuple(boxes)


def table_source(name: str, source, config, split, id_column: str, required: tuple[str, ...], make_instance) -> DatasetSource:
    """A :class:`DatasetSource` over a table: ids from ``id_column``, rows missing a required field become InvalidRows."""
    table = read_table(source, config, split)
    length, get = table_rows(table)
    ids = table_ids(table, id_column, name)

    def build(index: int) -> Row:
        record = get(index)
        missing = [k for k in required if record.get(k) in (None, "", [])]
        if missing:
            return InvalidRow(ids[index], f"missing field {', '.join(repr(m) for m in missing)}")
        try:
            return make_instance(record, ids[index])
        except ImageTooLargeError as error:
            return InvalidRow(ids[index], f"field 'image': {error}")

    return DatasetSource(name, length, build, ids)


def _choices(value: Any) -> tuple[str, ...]:
    """A list column of choices as strings; a bare string is refused (not one choice per character)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"field 'choices' must be a list of strings, got {value!r}")
    return tuple(str(c) for c in value)


def load_cvbench(
    source: str | Path = "nyu-visionx/CV-Bench", config: str | None = None, split: str = "test", *, max_megapixels: float | None = 64
) -> DatasetSource:
    """CV-Bench (Tong et al. 2024): 2D/3D count, relation, depth, distance multiple choice."""
    budget = budget_of(max_megapixels)

    def make_instance(record: dict, row_id: str) -> Instance:
        boxes = _boxes(record.get("bbox"))
        return Instance(
            id=row_id,
            image=decode_image(record["image"], budget),
            question=record["question"],
            choices=_choices(record["choices"]),
            answer=str(record["answer"]),
            meta={k: record.get(k) for k in ("type", "task", "source", "source_dataset") if record.get(k) is not None}
            | {"dataset": "cvbench"},
            ground_truth=GroundTruth(boxes=boxes) if boxes else None,
            pixel_budget=budget,
        )

    return table_source("cvbench", source, config, split, "idx", ("image", "question", "choices", "answer"), make_instance)


_OPTIONS = re.compile(r"\n?\s*Options:\s*(.*)$", re.DOTALL)
_OPTION = re.compile(r"(?:^|[\s,\n])([A-F])[:.)]\s*(.*?)(?=(?:,?\s*\n?\s*[A-F][:.)]\s)|$)", re.DOTALL)


def split_mmstar_question(text: str) -> tuple[str, tuple[str, ...] | None]:
    """MMStar puts its options inline (``… Options: A: x, B: y, …``): the question and the choices.

    Returns ``(text, None)`` when the options cannot be parsed as consecutive letters from A.
    """
    match = _OPTIONS.search(text)
    if not match:
        return text, None
    options = [(letter, body.strip().rstrip(",").strip()) for letter, body in _OPTION.findall(match.group(1))]
    letters = [letter for letter, _ in options]
    if len(options) < 2 or letters != [chr(ord("A") + i) for i in range(len(options))]:
        return text, None
    return text[: match.start()].strip(), tuple(body for _, body in options)


def load_mmstar(
    source: str | Path = "Lin-Chen/MMStar", config: str | None = None, split: str = "val", *, max_megapixels: float | None = 64
) -> DatasetSource:
    """MMStar (Chen et al. 2024): 1,500 vision-indispensable multiple-choice questions."""
    budget = budget_of(max_megapixels)

    def make_instance(record: dict, row_id: str) -> Instance:
        question, choices = split_mmstar_question(record["question"])
        meta = {k: record.get(k) for k in ("category", "l2_category") if record.get(k) is not None} | {"dataset": "mmstar"}
        if choices is None:  # options stay inline; read a bare letter answer
            meta["answer_pattern"] = r"\(?\b([A-F])\b\)?"
        return Instance(
            id=row_id,
            image=decode_image(record["image"], budget),
            question=question,
            choices=choices,
            answer=str(record["answer"]).strip(),
            meta=meta,
            pixel_budget=budget,
        )

    return table_source("mmstar", source, config, split, "index", ("image", "question", "answer"), make_instance)
