"""Datasets by name: a new dataset is one loader function and one ``@register_dataset`` line."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from synfaith.data.source import DatasetSource

DATASETS: dict[str, Callable[..., DatasetSource]] = {}


def register_dataset(name: str):
    """Decorator registering ``loader(**options) -> DatasetSource`` under ``name``."""

    def decorate(loader: Callable[..., DatasetSource]) -> Callable[..., DatasetSource]:
        if name in DATASETS and DATASETS[name] is not loader:
            raise ValueError(f"dataset name {name!r} is taken")
        DATASETS[name] = loader
        return loader

    return decorate


def open_dataset(kind: str, **options) -> DatasetSource:
    """The dataset ``kind`` (a registry name) with its loader's options."""
    try:
        loader = DATASETS[kind]
    except KeyError:
        raise ValueError(f"unknown dataset {kind!r}; known: {', '.join(sorted(DATASETS))}") from None
    accepted = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {kind!r} has no option {', '.join(unknown)}; its options: {', '.join(accepted)}")
    return loader(**options)


@register_dataset("synthetic")
def synthetic(
    per_cell: int = 5,
    split: str = "test",
    families: Sequence[str] | None = None,
    subsets: Sequence[str] | None = None,
    seed: int = 0,
) -> DatasetSource:
    """The synthetic world (planted ground truth), generated in memory."""
    from synfaith.data.synthetic import FAMILIES, SUBSETS, synthetic_instances

    instances = synthetic_instances(
        per_cell, split=split, families=tuple(families or FAMILIES), subsets=tuple(subsets or SUBSETS), seed=seed
    )
    return DatasetSource.from_instances("synthetic", instances)


@register_dataset("jsonl")
def jsonl(path: str, image_root: str | None = None) -> DatasetSource:
    """synfaith's JSONL format (see :mod:`synfaith.data.jsonl`)."""
    from synfaith.data.jsonl import load_jsonl

    return load_jsonl(path, image_root)


@register_dataset("repope")
def repope(annotations: str, image_root: str, split: str = "random") -> DatasetSource:
    """RePOPE annotations plus a local COCO val2014 folder."""
    from synfaith.data.repope import load_repope

    return load_repope(annotations, image_root, split)


@register_dataset("cvbench")
def cvbench(source: str = "nyu-visionx/CV-Bench", config: str | None = None, split: str = "test") -> DatasetSource:
    """CV-Bench by hub name or local Parquet/Arrow path."""
    from synfaith.data.tables import load_cvbench

    return load_cvbench(source, config, split)


@register_dataset("mmstar")
def mmstar(source: str = "Lin-Chen/MMStar", config: str | None = None, split: str = "val") -> DatasetSource:
    """MMStar by hub name or local Parquet/Arrow path."""
    from synfaith.data.tables import load_mmstar

    return load_mmstar(source, config, split)
