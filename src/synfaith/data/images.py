"""Opening images safely: a pixel budget checked from the header, and paths kept inside their root.

A 17 KB PNG can declare 12000×12000 pixels and take 3 GB and 40 s to decode. Every loader and
the server open images through :func:`open_image`, which reads only the header first and
refuses an image over the budget (default 64 megapixels) with :class:`ImageTooLargeError`;
:func:`read_image_size` does the same check without decoding at all (loaders use it when they
build a row, so an over-budget image is a failure row at stage ``load``).

Image paths written in a dataset file are resolved by :func:`confine_path`: relative to the
dataset's image folder, and refused (:class:`ImagePathError`) when, after ``..`` and symlinks,
they lie outside that folder and outside every explicitly allowed root.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from PIL import Image

DEFAULT_PIXEL_BUDGET = 64_000_000  # pixels (64 megapixels)

ImageSource = str | os.PathLike | bytes | BinaryIO


class ImageTooLargeError(ValueError):
    """An image declares more pixels than the budget allows."""


class ImagePathError(ValueError):
    """An image path that resolves outside the folders it may come from."""


def megapixels(budget: float) -> int:
    """A budget given in megapixels (as in configs) in pixels."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < float("inf"):
        raise ValueError(f"the pixel budget must be a positive number, got {budget!r} megapixels")
    return int(budget * 1_000_000)


def budget_of(max_megapixels: float | None) -> int | None:
    """The pixel budget of a loader's ``max_megapixels`` option (None: no budget)."""
    if max_megapixels is None:
        return None
    try:
        value = float(max_megapixels)
    except (TypeError, ValueError):
        raise ValueError(f"max_megapixels must be a positive number or null, got {max_megapixels!r}") from None
    return megapixels(value)


def check_size(width: int, height: int, budget: int | None, what: str = "image") -> None:
    """Raise :class:`ImageTooLargeError` when ``width × height`` is over ``budget`` (None: no budget)."""
    if budget is not None and width * height > budget:
        raise ImageTooLargeError(
            f"{what} is {width}×{height} = {width * height / 1e6:.1f} megapixels, over the pixel budget of "
            f"{budget / 1e6:g} megapixels; shrink it or raise the budget (max_megapixels)"
        )


@contextmanager
def _checked(source: ImageSource, budget: int | None, what: str) -> Iterator[Image.Image]:
    """The image opened lazily (header only) and checked against the budget; errors as in :func:`open_image`."""
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with warnings.catch_warnings():
            # our budget replaces PIL's own decompression-bomb guard, which we check first anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                check_size(*image.size, budget, what)
                yield image
    except FileNotFoundError:
        raise FileNotFoundError(f"{what}: file not found: {Path(source)}") from None
    except Image.DecompressionBombError as error:  # a budget above PIL's own hard limit
        raise ImageTooLargeError(f"{what}: {error}") from None
    except ImageTooLargeError:
        raise
    except (OSError, SyntaxError, ValueError) as error:  # PIL's "cannot identify image file" and truncated data
        raise ValueError(f"cannot read {what}: {error}") from None


def open_image(source: ImageSource, *, budget: int | None = DEFAULT_PIXEL_BUDGET, what: str = "image") -> Image.Image:
    """An RGB image from a path, bytes or a binary file, refused from its header when it has
    more than ``budget`` pixels (None: no budget).

    Raises:
        FileNotFoundError: a path that does not exist.
        ImageTooLargeError: over the budget (nothing was decoded).
        ValueError: bytes that are not an image PIL can read (the message names ``what``).
    """
    with _checked(source, budget, what) as image:
        return image.convert("RGB")


def read_image_size(source: ImageSource, *, budget: int | None = DEFAULT_PIXEL_BUDGET, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` from the header alone, nothing decoded; raises as :func:`open_image`."""
    with _checked(source, budget, what) as image:
        return image.size


def resolve_roots(roots: Sequence[str | os.PathLike]) -> tuple[Path, ...]:
    """Folders resolved once (symlinks and ``..``), for :func:`confine_path`."""
    return tuple(Path(root).resolve() for root in roots)


def confine_path(value: str, roots: Sequence[Path], what: str = "image") -> Path:
    """``value`` resolved against ``roots[0]`` (unless absolute); it must lie inside one of ``roots``.

    Args:
        value: the path as written in the dataset.
        roots: resolved folders (:func:`resolve_roots`): the dataset's image folder first, then
            any folders the user allowed.

    Raises:
        ImagePathError: a path that resolves (after ``..`` and symlinks) outside every root, or
            that cannot be resolved at all (a NUL byte, a symlink loop).
    """
    candidate = Path(value)
    try:
        resolved = (candidate if candidate.is_absolute() else roots[0] / candidate).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # NUL bytes, symlink loops
        raise ImagePathError(f"{what} {value!r} cannot be resolved: {error}") from None
    if any(resolved.is_relative_to(root) for root in roots):
        return resolved
    allowed = f" or the allowed roots ({', '.join(str(r) for r in roots[1:])})" if len(roots) > 1 else ""
    raise ImagePathError(
        f"{what} {value!r} resolves to {resolved}, outside the image folder {roots[0]}{allowed}; "
        "name its folder in the option allowed_roots to allow it"
    )
