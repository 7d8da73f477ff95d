"""Plumbing shared by the contract-test kits (:mod:`synfaith.testing.kits`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

FSYN_STEPS = 11  # K of the F_syn cost check: at most 6K + 2 evaluations
REL_TOL = 1e-5  # relative tolerance of value comparisons (float32 forward passes)


class Checks:
    """Runs named checks, times them and turns any failure into an AssertionError naming the check."""

    def __init__(self, kit: str, subject: str) -> None:
        self.kit = kit
        self.subject = subject
        self.passed: list[str] = []
        self.seconds: list[tuple[str, float]] = []
        self.notes: list[str] = []

    @contextmanager
    def check(self, name: str) -> Iterator[None]:
        """A block that is the check ``name``: passes if it raises nothing."""
        start = time.perf_counter()
        try:
            yield
        except AssertionError as error:
            raise AssertionError(f"{self.kit}: check {name!r} failed for {self.subject}: {error}") from error
        except Exception as error:  # the code under test raised: that is this check failing
            raise AssertionError(
                f"{self.kit}: check {name!r} failed for {self.subject}: {type(error).__name__}: {error}"
            ) from error
        self.passed.append(name)
        self.seconds.append((name, time.perf_counter() - start))


def require(condition: bool, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` (not stripped by ``python -O``)."""
    if not condition:
        raise AssertionError(message)


def relative_close(a: float, b: float, rel: float = REL_TOL) -> bool:
    """``|a − b| ≤ rel · max(|a|, |b|)`` (plus 1e-12 absolute for values at zero)."""
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-12


def name_of(thing) -> str:
    """A readable name of an adapter or explainer."""
    return str(getattr(thing, "name", "") or type(thing).__name__)


def capabilities_of(adapter) -> frozenset[str]:
    """What an adapter declares it can do (``{"game", "white_box"}`` when it declares nothing)."""
    return frozenset(getattr(adapter, "capabilities", {"game", "white_box"}))


def default_instance():
    """The kits' default instance: one small synthetic yes/no question (existence, synergy subset)."""
    from synfaith.data.synthetic import synthetic_instances

    return synthetic_instances(1, families=("existence",), subsets=("synergy",))[0]


def make_target(adapter, prepared, answer_format, notes: list[str]):
    """The adapter's generated target; if the response holds no answer of the instance's format
    (random-weight twins answer no format), its first character, with a note."""
    from synfaith.models.answers import RegexAnswer, UnparseableAnswerError

    if answer_format is not None:
        return adapter.generate_target(prepared, answer_format)
    try:
        return adapter.generate_target(prepared)
    except UnparseableAnswerError as error:
        notes.append(f"response {error.response!r} holds no answer of the instance's format; target = its first character")
        return adapter.generate_target(prepared, RegexAnswer(r"(?s)(.)"))
