"""Adapters by the checkpoint's ``model_type``: a new architecture is one file and one decorator."""

from __future__ import annotations

ADAPTERS: dict[str, type] = {}


def register_adapter(adapter_class: type) -> type:
    """Class decorator: make an adapter the one for each of its ``model_types``."""
    for model_type in adapter_class.model_types:
        if model_type in ADAPTERS and ADAPTERS[model_type] is not adapter_class:
            raise ValueError(f"model_type {model_type!r} already has adapter {ADAPTERS[model_type].__name__}")
        ADAPTERS[model_type] = adapter_class
    return adapter_class


def adapter_for(model_type: str) -> type:
    """The adapter class for a checkpoint's ``model_type``."""
    import synfaith.models.adapters  # noqa: F401  (registers the built-in adapters)

    try:
        return ADAPTERS[model_type]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(f"no synfaith adapter for model_type {model_type!r}; known: {known}") from None
