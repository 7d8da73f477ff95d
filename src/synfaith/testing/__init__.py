"""Reusable test tools: offline tiny twins and contract-test kits (docs/design.md).

- :func:`build_twin` — a random-weight tiny twin of LLaVA-1.5, Qwen2.5-VL or InternVL,
  written offline as a checkpoint directory (:mod:`synfaith.testing.twins`).
- :func:`check_adapter` — the adapter contract checks (:mod:`synfaith.testing.kits`).
- :func:`check_explainer` — the explainer contract checks.

Names are imported on first use, so ``import synfaith.testing`` imports neither torch,
transformers nor pytest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["AdapterReport", "ExplainerReport", "build_twin", "check_adapter", "check_explainer"]

_WHERE = {
    "build_twin": "synfaith.testing.twins",
    "check_adapter": "synfaith.testing.kits",
    "check_explainer": "synfaith.testing.kits",
    "AdapterReport": "synfaith.testing.kits",
    "ExplainerReport": "synfaith.testing.kits",
}

if TYPE_CHECKING:
    from synfaith.testing.kits import (
        AdapterReport,
        ExplainerReport,
        check_adapter,
        check_explainer,
    )
    from synfaith.testing.twins import build_twin


def __getattr__(name: str) -> Any:
    """Import a public name lazily from its module."""
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'synfaith.testing' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
