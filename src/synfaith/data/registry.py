"""Datasets by name: a new dataset is one loader function and one ``@register_dataset`` line."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synfaith.data.source import DatasetSource
from synfaith.registry import Registry

DATASETS: Registry[Callable[..., DatasetSource]] = Registry("dataset")


def register_dataset(name: str):
    """Decorator registering ``loader(**options) -> DatasetSource`` under ``name``.

    The loader's keyword parameters, with type annotations and defaults, are the dataset's
    options; a config's options are checked against them before a run starts. A loader that
    opens images should take ``max_megapixels: float | None = 64`` (the pixel budget, checked
    from each image's header) and set it on its instances (``Instance.pixel_budget``).
    """

    def decorate(loader: Callable[..., DatasetSource]) -> Callable[..., DatasetSource]:
        return DATASETS.register(name, loader)

    return decorate


def open_dataset(kind: str, **options) -> DatasetSource:
    """The dataset ``kind`` (a registry name) with its loader's options (validated first)."""
    from synfaith.options import validate_options

    loader = DATASETS[kind]  # a RegistryError lists the known kinds
    return loader(**validate_options(loader, options, f"dataset {kind!r}"))


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
def jsonl(
    path: str, image_root: str | None = None, max_megapixels: float | None = 64, allowed_roots: list[str] | None = None
) -> DatasetSource:
    """synfaith's JSONL format (see :mod:`synfaith.data.jsonl`).

    Image paths resolve against ``image_root`` (default: the file's folder) and must stay inside
    it or inside one of ``allowed_roots``; images over ``max_megapixels`` (None: no budget) fail
    their row.
    """
    from synfaith.data.jsonl import load_jsonl

    return load_jsonl(path, image_root, max_megapixels=max_megapixels, allowed_roots=allowed_roots)


@register_dataset("repope")
def repope(annotations: str, image_root: str, split: str = "random", max_megapixels: float | None = 64) -> DatasetSource:
    """RePOPE annotations plus a local COCO val2014 folder (image paths must stay inside it)."""
    from synfaith.data.repope import load_repope

    return load_repope(annotations, image_root, split, max_megapixels=max_megapixels)


@register_dataset("cvbench")
def cvbench(
    source: str = "nyu-visionx/CV-Bench", config: str | None = None, split: str = "test", max_megapixels: float | None = 64
) -> DatasetSource:
    """CV-Bench by hub name or local Parquet/Arrow path."""
    from synfaith.data.tables import load_cvbench

    return load_cvbench(source, config, split, max_megapixels=max_megapixels)


@register_dataset("mmstar")
def mmstar(
    source: str = "Lin-Chen/MMStar", config: str | None = None, split: str = "val", max_megapixels: float | None = 64
) -> DatasetSource:
    """MMStar by hub name or local Parquet/Arrow path."""
    from synfaith.data.tables import load_mmstar

    return load_mmstar(source, config, split, max_megapixels=max_megapixels)
