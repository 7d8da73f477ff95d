"""Explainers by name: a new explainer is one module and one decorator."""

from __future__ import annotations

EXPLAINERS: dict[str, type] = {}


def register_explainer(explainer_class: type) -> type:
    """Class decorator registering an explainer under its ``name``."""
    name = explainer_class.name
    if not name:
        raise ValueError(f"{explainer_class.__name__} has no name")
    if name in EXPLAINERS and EXPLAINERS[name] is not explainer_class:
        raise ValueError(f"explainer name {name!r} is taken by {EXPLAINERS[name].__name__}")
    EXPLAINERS[name] = explainer_class
    return explainer_class


def get_explainer(name: str, **options):
    """An explainer instance by registry name, with its options."""
    import synfaith.explainers.builtin  # noqa: F401  (registers the built-in explainers)

    try:
        return EXPLAINERS[name](**options)
    except KeyError:
        raise ValueError(f"unknown explainer {name!r}; known: {', '.join(sorted(EXPLAINERS))}") from None
