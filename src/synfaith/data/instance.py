"""The unit every dataset yields, with model-agnostic ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Box:
    """An evidence box in original-image pixel coordinates: ``[left, top, right, bottom)``."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        if not (self.right > self.left and self.bottom > self.top):
            raise ValueError(f"a box needs right > left and bottom > top, got {self}")


@dataclass(frozen=True)
class GroundTruth:
    """What decides an instance, independent of any model.

    Attributes:
        boxes: evidence regions in original-image pixels.
        words: the question words that decide the answer (matched case-insensitively as
            whole words in the question).
    """

    boxes: tuple[Box, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    """One visual question.

    Attributes:
        id: unique within its dataset.
        image: a PIL image or a path to one (opened lazily by :meth:`load_image`).
        question: the user's question, without choices.
        choices: the answer options of a multiple-choice question, in order (letters A, B, …).
        answer: the reference answer: ``"yes"``/``"no"`` or a choice letter; optional.
        meta: free-form fields (dataset, subset, family, …).
        ground_truth: planted or annotated evidence, when known.
    """

    id: str
    image: Image.Image | str | Path
    question: str
    choices: tuple[str, ...] | None = None
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    ground_truth: GroundTruth | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"instance {self.id!r} has an empty question")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
            if not 2 <= len(self.choices) <= 26:
                raise ValueError(f"instance {self.id!r} needs 2 to 26 choices, got {len(self.choices)}")

    def load_image(self) -> Image.Image:
        """The image as RGB, opened from disk if it is a path."""
        if isinstance(self.image, Image.Image):
            return self.image.convert("RGB")
        path = Path(self.image)
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise FileNotFoundError(f"instance {self.id!r}: image file not found: {path}") from None
        except OSError as error:
            raise ValueError(f"instance {self.id!r}: cannot read image {path}: {error}") from None

    @property
    def choice_letters(self) -> tuple[str, ...]:
        """``("A", "B", …)`` for the choices, or ``()`` for an open/yes-no question."""
        return tuple(chr(ord("A") + i) for i in range(len(self.choices or ())))
