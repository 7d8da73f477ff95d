"""Typed options from a signature: what an explainer, dataset loader or adapter accepts.

Every extension declares its options the ordinary Python way — keyword parameters with type
annotations and defaults (``def __init__(self, steps: int = 50, baseline: str = "black")``).
:func:`options_model` turns that signature into a pydantic model, so a config is checked
before a run starts and an error names the option, the expected type and the value given.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model


class OptionError(ValueError):
    """An unknown or mistyped option; the message names the owner, the option and the fix."""


_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@functools.lru_cache(maxsize=None)
def options_model(target: Callable) -> type[BaseModel]:
    """A pydantic model of ``target``'s keyword options (a class: its ``__init__``)."""
    function = target.__init__ if inspect.isclass(target) else target
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable annotations: accept any value
        hints = {}
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in ("self", "cls") or parameter.kind in _SKIPPED_KINDS:
            continue
        annotation = hints.get(name, Any)
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (annotation, default)
    label = getattr(target, "__name__", "Options")
    return create_model(f"{label}Options", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)


def accepts_any(target: Callable) -> bool:
    """Whether ``target`` takes ``**kwargs`` (then unknown options cannot be refused here)."""
    function = target.__init__ if inspect.isclass(target) else target
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def validate_options(target: Callable, options: Mapping[str, Any], what: str | None = None) -> dict[str, Any]:
    """``options`` checked against ``target``'s signature; the values as given when valid.

    Raises:
        OptionError: naming every unknown, missing or mistyped option, with the accepted ones.
    """
    what = what or f"{getattr(target, 'name', '') or getattr(target, '__name__', 'target')!s}"
    model = options_model(target)
    options = dict(options)
    if accepts_any(target):
        known = {k: v for k, v in options.items() if k in model.model_fields}
        extra = {k: v for k, v in options.items() if k not in model.model_fields}
    else:
        known, extra = options, {}
    try:
        model.model_validate(known)
    except ValidationError as error:
        accepted = ", ".join(f"{name}: {_type_name(f.annotation)}" for name, f in model.model_fields.items()) or "none"
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"]) or "(options)"
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown option {where!r}")
            elif item["type"] == "missing":
                problems.append(f"option {where!r} is required")
            else:
                problems.append(f"option {where!r}: {item['msg']} (got {item.get('input')!r})")
        raise OptionError(f"{what}: {'; '.join(problems)}; its options: {accepted}") from None
    return {**known, **extra}


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return text or str(annotation).replace("typing.", "")
