"""Contract-test kits: the checks synfaith runs on its own adapters and explainers, for anyone's.

Someone adding a model adapter or an explainer runs the same checks the project does::

    from synfaith.testing import check_adapter, check_explainer

    report = check_adapter(my_adapter)                  # AssertionError naming the failed check
    check_explainer(my_explainer, my_adapter)

:func:`check_adapter` checks what every metric relies on (docs/design.md §1–2): units exist;
the text units are the query's tokens and nothing else; the target is an answer; the game's
value of the full coalition is the clean input's joint answer probability, in ``[0, 1]``;
batched and one-at-a-time values agree; repeated coalitions come from the cache; masking a
visual unit touches only that unit's pixels; F_syn costs at most ``6K + 2`` evaluations; and,
for white-box adapters, gradients reach the pixels and the input embeddings.
:func:`check_explainer` checks that an explainer's attribution has the right shapes, is finite,
deterministic and records its cost. Both default to one small synthetic instance
(:func:`default_instance`) and return a small frozen report of the checks passed and their
timings. Failures are ``AssertionError`` (raised explicitly, so ``python -O`` keeps them), each
naming its check; an exception raised by the code under test is reported the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synfaith.testing.kits_adapter import adapter_checks
from synfaith.testing.kits_base import (
    Checks,
    capabilities_of,
    default_instance,
    make_target,
    name_of,
    require,
)

__all__ = [
    "AdapterReport",
    "ExplainerReport",
    "check_adapter",
    "check_explainer",
    "default_instance",
]

@dataclass(frozen=True)
class AdapterReport:
    """What :func:`check_adapter` found.

    Attributes:
        adapter: the adapter's name (or class name).
        instance_id: the instance checked.
        n_image_units, n_text_units: its unit counts (m, n).
        answer: the target's answer.
        checks: the names of the checks passed, in order.
        seconds: ``(check, wall seconds)`` per check passed.
        notes: remarks (e.g. a fallback answer format, a check not applicable to the adapter).
    """

    adapter: str
    instance_id: str
    n_image_units: int
    n_text_units: int
    answer: str
    checks: tuple[str, ...]
    seconds: tuple[tuple[str, float], ...]
    notes: tuple[str, ...] = ()

    @property
    def total_seconds(self) -> float:
        """Wall time of all checks."""
        return float(sum(s for _, s in self.seconds))


@dataclass(frozen=True)
class ExplainerReport:
    """What :func:`check_explainer` found.

    Attributes:
        explainer: the explainer's registry name (or class name).
        adapter: the adapter's name (or class name).
        instance_id: the instance explained.
        checks: the names of the checks passed, in order.
        seconds: ``(check, wall seconds)`` per check passed.
        explain_seconds: the ``seconds`` the first attribution recorded.
        model_calls: the ``model_calls`` it recorded.
        notes: remarks (e.g. a fallback answer format).
    """

    explainer: str
    adapter: str
    instance_id: str
    checks: tuple[str, ...]
    seconds: tuple[tuple[str, float], ...]
    explain_seconds: float
    model_calls: int
    notes: tuple[str, ...] = ()


def check_adapter(adapter, instance=None, *, answer_format=None, seed: int = 0) -> AdapterReport:
    """Run the adapter contract checks on one instance; raise AssertionError naming the first failure.

    Args:
        adapter: a model adapter (``prepare``, ``generate_target``, ``game``; white-box
            adapters — ``"white_box"`` in ``adapter.capabilities``, the default when it declares
            none — also ``embedded_inputs`` and ``forward_embeddings``).
        instance: the instance to check on (default: :func:`default_instance`).
        answer_format: how to cut the target (default: the instance's format, falling back to
            the response's first character when it holds no such answer).
        seed: seed of the random coalitions.

    Returns:
        An :class:`AdapterReport` of the checks passed: ``prepare``, ``units``, ``text_units``,
        ``target``, ``clean_value``, ``batched_values``, ``cache``, ``pixel_masking``,
        ``fsyn_cost`` and, for white-box adapters, ``white_box_gradients``.
    """
    instance = instance if instance is not None else default_instance()
    checks = Checks("check_adapter", f"{name_of(adapter)} on instance {instance.id!r}")
    prepared, target = adapter_checks(adapter, instance, checks, answer_format=answer_format, seed=seed)
    return AdapterReport(
        adapter=name_of(adapter),
        instance_id=str(instance.id),
        n_image_units=int(prepared.n_image_units),
        n_text_units=int(prepared.n_text_units),
        answer=str(target.answer),
        checks=tuple(checks.passed),
        seconds=tuple(checks.seconds),
        notes=tuple(checks.notes),
    )


def check_explainer(explainer, adapter, instance=None, *, answer_format=None) -> ExplainerReport:
    """Run the explainer contract checks on one instance; raise AssertionError naming the first failure.

    ``explainer.explain(adapter, prepared, target)`` must return an attribution with ``m``
    finite visual and ``n`` finite text scores, bit-identical on a repeat, recording
    ``seconds ≥ 0`` and ``model_calls ≥ 0``. An explainer that declares ``requires`` beyond the
    adapter's ``capabilities`` fails the ``compatible`` check. A game-based explainer
    (``"game"`` in ``requires``) must evaluate its coalitions through the game it is given
    (``explain(..., game=game)``, as the per-instance pipeline calls it): repeated on the same
    game it evaluates nothing new and gives bit-identical scores.

    Args:
        explainer: an explainer instance (e.g. ``synfaith.explainers.get_explainer("random")``).
        adapter: the model adapter to explain.
        instance: the instance to explain (default: :func:`default_instance`).
        answer_format: how to cut the target (as in :func:`check_adapter`).

    Returns:
        An :class:`ExplainerReport`: checks ``compatible``, ``prepare``, ``explain``, ``shapes``,
        ``finite``, ``cost``, ``deterministic`` and, for game-based explainers, ``shared_game``.
    """
    instance = instance if instance is not None else default_instance()
    checks = Checks("check_explainer", f"explainer {name_of(explainer)} on {name_of(adapter)}, instance {instance.id!r}")
    with checks.check("compatible"):
        requires = frozenset(getattr(explainer, "requires", ()) or ())
        missing = sorted(requires - capabilities_of(adapter))
        require(not missing, f"the explainer requires {missing}, which the adapter does not declare")
    with checks.check("prepare"):
        prepared = adapter.prepare(instance)
        target = make_target(adapter, prepared, answer_format, checks.notes)
        m, n = int(prepared.n_image_units), int(prepared.n_text_units)
    with checks.check("explain"):
        first = explainer.explain(adapter, prepared, target)
        for attribute in ("image_scores", "text_scores", "seconds", "model_calls"):
            require(hasattr(first, attribute), f"explain returned a {type(first).__name__} without {attribute!r}")
    image, text = np.asarray(first.image_scores), np.asarray(first.text_scores)
    with checks.check("shapes"):
        require(image.shape == (m,), f"visual scores have shape {image.shape}, expected ({m},)")
        require(text.shape == (n,), f"text scores have shape {text.shape}, expected ({n},)")
    with checks.check("finite"):
        require(np.issubdtype(image.dtype, np.number) and np.isfinite(image).all(), "visual scores are not all finite numbers")
        require(np.issubdtype(text.dtype, np.number) and np.isfinite(text).all(), "text scores are not all finite numbers")
    with checks.check("cost"):
        seconds, calls = first.seconds, first.model_calls
        require(isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0, f"seconds = {seconds!r}, expected ≥ 0")
        require(isinstance(calls, (int, np.integer)) and calls >= 0, f"model_calls = {calls!r}, expected an integer ≥ 0")
    with checks.check("deterministic"):
        again = explainer.explain(adapter, prepared, target)
        for label, a, b in (("visual", image, again.image_scores), ("text", text, again.text_scores)):
            b = np.asarray(b)
            same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
            require(same, f"{label} scores differ on a repeat (max |Δ| = {_max_diff(a, b)})")
        require(again.model_calls == calls, f"model_calls differ on a repeat ({calls} then {again.model_calls})")
    if "game" in requires:
        with checks.check("shared_game"):
            game = adapter.game(prepared, target)
            shared = explainer.explain(adapter, prepared, target, game=game)
            used = game.evaluations
            require(used > 0, "the explainer evaluated nothing through the game it was given")
            repeat = explainer.explain(adapter, prepared, target, game=game)
            require(
                game.evaluations == used,
                f"repeating the explanation on the same game evaluated {game.evaluations - used} new coalitions "
                "(expected every one from the game's cache)",
            )
            for label, a, b in (("visual", shared.image_scores, repeat.image_scores), ("text", shared.text_scores, repeat.text_scores)):
                a, b = np.asarray(a), np.asarray(b)
                same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
                require(same, f"{label} scores differ on a repeat on the same game (max |Δ| = {_max_diff(a, b)})")
    return ExplainerReport(
        explainer=name_of(explainer),
        adapter=name_of(adapter),
        instance_id=str(instance.id),
        checks=tuple(checks.passed),
        seconds=tuple(checks.seconds),
        explain_seconds=float(first.seconds),
        model_calls=int(first.model_calls),
        notes=tuple(checks.notes),
    )


def _max_diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    return repr(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))) if a.size else "0"

