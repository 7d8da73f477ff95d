"""Adapters by the checkpoint's ``model_type``: a new architecture is one file and one registration."""

from __future__ import annotations

from synfaith.registry import Registry

ADAPTERS: Registry[type] = Registry(
    "adapter (model_type)",
    {
        "llava": "synfaith.models.llava:LlavaAdapter",
        "qwen2_5_vl": "synfaith.models.qwen2_5_vl:Qwen25VLAdapter",
        "internvl": "synfaith.models.internvl:InternVLAdapter",
    },
)


def register_adapter(adapter_class: type) -> type:
    """Class decorator: make an adapter the one for each of its ``model_types``.

    The class declares ``model_types`` (the checkpoints' ``config.model_type`` values it
    serves) and ``capabilities`` (a subset of ``{"game", "white_box", "attention"}``).
    """
    if not getattr(adapter_class, "model_types", ()):
        raise ValueError(f"{adapter_class.__name__} declares no model_types")
    for model_type in adapter_class.model_types:
        ADAPTERS.register(model_type, adapter_class)
    return adapter_class


def adapter_for(model_type: str) -> type:
    """The adapter class for a checkpoint's ``model_type``."""
    if model_type not in ADAPTERS:
        raise ValueError(f"no synfaith adapter for model_type {model_type!r}; known: {', '.join(ADAPTERS.names())}")
    return ADAPTERS[model_type]
