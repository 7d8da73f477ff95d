"""The unit every dataset yields, with model-agnostic ground truth.

An instance's image is opened by :meth:`Instance.load_image` under the instance's pixel budget
(:data:`~synfaith.data.images.DEFAULT_PIXEL_BUDGET` unless its loader set another), checked from
the image header before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from synfaith.data.images import DEFAULT_PIXEL_BUDGET, check_size, open_image


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
        pixel_budget: the most pixels :meth:`load_image` accepts (None: no budget); set by the
            loader from its ``max_megapixels`` option. Not part of the instance's identity.
    """

    id: str
    image: Image.Image | str | Path
    question: str
    choices: tuple[str, ...] | None = None
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    ground_truth: GroundTruth | None = None
    pixel_budget: int | None = field(default=DEFAULT_PIXEL_BUDGET, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"instance {self.id!r} has an empty question")
        if self.choices is not None:
            if isinstance(self.choices, (str, bytes)) or not all(isinstance(c, str) and c.strip() for c in self.choices):
                raise ValueError(f"instance {self.id!r}: choices must be a sequence of non-empty strings, got {self.choices!r}")
            object.__setattr__(self, "choices", tuple(self.choices))
            if not 2 <= len(self.choices) <= 26:
                raise ValueError(f"instance {self.id!r} needs 2 to 26 choices, got {len(self.choices)}")
        if self.answer is not None and not isinstance(self.answer, str):
            raise ValueError(f"instance {self.id!r}: the answer must be a string or None, got {self.answer!r}")

    def load_image(self) -> Image.Image:
        """The image as RGB, opened from disk if it is a path, refused over :attr:`pixel_budget`.

        Raises:
            FileNotFoundError: the image file does not exist.
            ImageTooLargeError: the image has more pixels than the budget (nothing decoded).
            ValueError: the file is not an image PIL can read.
        """
        what = f"image of instance {self.id!r}"
        if isinstance(self.image, Image.Image):
            check_size(*self.image.size, self.pixel_budget, what)
            return self.image.convert("RGB")
        return open_image(Path(self.image), budget=self.pixel_budget, what=what)

    @property
    def choice_letters(self) -> tuple[str, ...]:
        """``("A", "B", …)`` for the choices, or ``()`` for an open/yes-no question."""
        return tuple(chr(ord("A") + i) for i in range(len(self.choices or ())))
