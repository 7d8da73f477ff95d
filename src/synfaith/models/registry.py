"""Adapters by the checkpoint's ``model_type``: a new architecture is one file and one registration.

A checkpoint whose ``model_type`` has no adapter but which follows the common image-token
pattern (an ``image_token_id`` in its config, a ``get_image_features`` method) is served by
:class:`~synfaith.models.generic.GenericAdapter`.
"""

from __future__ import annotations

from synfaith.registry import Registry

ADAPTERS: Registry[type] = Registry(
    "adapter (model_type)",
    {
        "llava": "synfaith.models.llava:LlavaAdapter",
        "qwen2_5_vl": "synfaith.models.qwen2_5_vl:Qwen25VLAdapter",
        "internvl": "synfaith.models.internvl:InternVLAdapter",
        "gemma3": "synfaith.models.gemma3:Gemma3Adapter",
        "paligemma": "synfaith.models.paligemma:PaliGemmaAdapter",
        "llava_next": "synfaith.models.llava_next:LlavaNextAdapter",
        "llava_onevision": "synfaith.models.llava_onevision:LlavaOnevisionAdapter",
        "mistral3": "synfaith.models.mistral3:Mistral3Adapter",
        "aya_vision": "synfaith.models.aya_vision:AyaVisionAdapter",
        "qwen2_vl": "synfaith.models.qwen2_vl:Qwen2VLAdapter",
        "qwen3_vl": "synfaith.models.qwen3_vl:Qwen3VLAdapter",
        "glm4v": "synfaith.models.glm4v:Glm4vAdapter",
        "mllama": "synfaith.models.mllama:MllamaAdapter",
        "idefics3": "synfaith.models.idefics3:Idefics3Adapter",
        "smolvlm": "synfaith.models.smolvlm:SmolVLMAdapter",
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
    """The adapter class registered for a checkpoint's ``model_type``."""
    if model_type not in ADAPTERS:
        raise ValueError(f"no synfaith adapter for model_type {model_type!r}; known: {', '.join(ADAPTERS.names())}")
    return ADAPTERS[model_type]


def adapter_for_checkpoint(path) -> type:
    """The adapter class for a checkpoint directory: by ``model_type``, else the generic one.

    Raises:
        ValueError: the ``model_type`` is unknown and the checkpoint is not an image-token
            architecture the generic adapter can serve (the message says why).
    """
    from synfaith.models.processors import read_config

    config = read_config(path)
    model_type = config.get("model_type", "")
    if model_type in ADAPTERS:
        return ADAPTERS[model_type]
    from synfaith.models.generic import GenericAdapter, generic_refusal

    reason = generic_refusal(config)
    if reason is not None:
        raise ValueError(
            f"no synfaith adapter for model_type {model_type!r} (known: {', '.join(ADAPTERS.names())}), "
            f"and the generic adapter cannot serve it: {reason}"
        )
    return GenericAdapter
