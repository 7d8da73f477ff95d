"""Datasets as indexable sources of instances, and rows that could not become one.

Every loader returns a :class:`DatasetSource`: its length is known up front and row ``i`` is
built on demand, so a run can subsample with a seed, shard by index and resume without
decoding images it will not use. A row that cannot become an :class:`Instance` (a missing
field, an empty question, an image over the pixel budget or outside its folder) is returned as
an :class:`InvalidRow` with the reason — for file-based loaders naming the file, the line and
the field, e.g. ``data.jsonl line 7: field 'question' must be a non-empty string, got NaN``;
the runner records it as a failure row at stage ``load`` and goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from synfaith.data.instance import Instance


@dataclass(frozen=True)
class InvalidRow:
    """A dataset row that is not a usable instance."""

    id: str
    reason: str


Row = Instance | InvalidRow


class DatasetSource:
    """``len(source)`` rows; ``source.row(i)`` builds row i (an Instance or an InvalidRow).

    Args:
        name: the dataset's name in records.
        length: number of rows.
        build: ``i -> Row``; exceptions it raises become InvalidRows naming the row.
        row_ids: the id of each row (for failure rows of rows that cannot be built).
    """

    def __init__(self, name: str, length: int, build: Callable[[int], Row], row_ids: Sequence[str] | None = None) -> None:
        self.name = name
        self._length = length
        self._build = build
        self._row_ids = row_ids

    def __len__(self) -> int:
        return self._length

    def row_id(self, index: int) -> str:
        return self._row_ids[index] if self._row_ids is not None else f"{self.name}-{index}"

    def row(self, index: int) -> Row:
        try:
            return self._build(index)
        except Exception as error:  # noqa: BLE001 - any unusable row becomes an InvalidRow, never a crash
            return InvalidRow(self.row_id(index), f"{type(error).__name__}: {error}")

    def indices(self, limit: int | None = None, seed: int | None = None) -> list[int]:
        """Row indices to run: all, the first ``limit``, or a seeded random ``limit`` in index order."""
        n = len(self)
        if limit is None or limit >= n:
            return list(range(n))
        if limit < 0:
            raise ValueError(f"limit must be ≥ 0, got {limit}")
        if seed is None:
            return list(range(limit))
        return sorted(np.random.default_rng(seed).choice(n, size=limit, replace=False).tolist())

    @classmethod
    def from_instances(cls, name: str, instances: Sequence[Row]) -> DatasetSource:
        """A source over rows already in memory."""
        instances = list(instances)
        return cls(name, len(instances), instances.__getitem__, [r.id for r in instances])
