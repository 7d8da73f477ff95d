"""The generic adapter: image-token architectures synfaith has no dedicated adapter for.

Most image-text-to-text models in ``transformers`` share one pattern — the processor expands an
image placeholder into a run of image tokens, ``model.get_image_features(pixel_values, …)``
returns one embedding per image token, and the model writes them at those positions. For a
checkpoint of that kind whose ``model_type`` is not registered, :class:`GenericAdapter`
derives what a dedicated adapter writes by hand:

- **the image token** from the config (``image_token_id`` / ``image_token_index``), else from
  the processor (``image_token_id``, or its ``image_token`` through the tokenizer);
- **the features call** from the signature of ``get_image_features``: the processor's image
  outputs it accepts (``image_sizes``, ``image_grid_thw``, …) are passed along;
- **the grid**: ``pixel_values`` of square views ``[views, 3, S, S]`` with ``g × g`` tokens each
  (``g`` dividing ``S``) give one unit per ``S/g``-pixel cell of each view, token k of a view at
  cell ``(k // g, k % g)``; flattened patch rows with ``image_grid_thw`` (the Qwen-VL pattern)
  give one unit per merged ``merge × merge`` block (``vision_config.spatial_merge_size``), with
  M-RoPE position ids from ``get_rope_index`` when the model has one.

What it cannot derive it says in one line (logged once per adapter), e.g. that several views
are treated as independent tiles because nothing in the config says whether one of them is a
thumbnail of the others. Layouts it cannot map at all (non-square views, image tokens that are
not one per cell) fail with a :class:`~synfaith.models.prompts.PromptLayoutError` naming the
shapes, and the run records a failure row. Write a dedicated adapter (one module and one
registration) for an exact mapping.
"""

from __future__ import annotations

import inspect
import logging
import math

import numpy as np
import torch

from synfaith.models.base import VLMAdapter
from synfaith.models.prompts import PromptLayoutError
from synfaith.models.qwen2_5_vl import merged_patch_layout, mrope_position_ids

_IMAGE_TOKEN_KEYS = ("image_token_id", "image_token_index")


def generic_refusal(config: dict) -> str | None:
    """Why a checkpoint's ``config.json`` (as a dict) is not one the generic adapter serves, or None."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = config.get("model_type", "")
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return f"transformers has no image-text-to-text model class for model_type {model_type!r}"
    if not any(config.get(key) is not None for key in _IMAGE_TOKEN_KEYS):
        return (
            f"its config has no {' or '.join(_IMAGE_TOKEN_KEYS)}, so the image is not a run of tokens in the "
            "sequence (cross-attention or an encoder-decoder); it needs a dedicated adapter"
        )
    return None


class _ImagesOnlyWhenNeeded:
    """``AutoProcessor``, or — when the stock processor's video part needs torchvision — the same
    processor without it (:func:`~synfaith.models.processors.image_only_processor`)."""

    @staticmethod
    def from_pretrained(path, **kwargs):
        import json
        from pathlib import Path

        import transformers
        from transformers import AutoProcessor

        from synfaith.models.processors import image_only_processor

        try:
            return AutoProcessor.from_pretrained(path, **kwargs)
        except ImportError as error:
            if "torchvision" not in str(error).lower():
                raise
        name = None
        for file in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
            candidate = Path(path) / file
            if candidate.is_file():
                name = name or json.loads(candidate.read_text(encoding="utf-8")).get("processor_class")
        stock = getattr(transformers, name, None) if name else None
        if stock is None:
            raise ImportError(f"{path}: the processor needs torchvision and names no processor class to load images-only")
        logging.getLogger(__name__).warning("%s: %s needs torchvision for videos; loaded images-only", path, name)
        return image_only_processor(stock, "AutoImageProcessor").from_pretrained(path, **kwargs)


class GenericAdapter(VLMAdapter):
    """Any image-token VLM, with the unit grid derived from its processor's outputs (see the module)."""

    model_types = ()  # the fallback for unregistered model types, never registered itself

    def __init__(self, model, processor, **options):
        self._said: set[str] = set()
        self._signature = inspect.signature(model.get_image_features).parameters
        super().__init__(model, processor, **options)

    @classmethod
    def model_class(cls):
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText

    @classmethod
    def processor_class(cls):
        return _ImagesOnlyWhenNeeded

    def _image_token_id(self) -> int:
        config = self.model.config
        for key in _IMAGE_TOKEN_KEYS:
            if getattr(config, key, None) is not None:
                return int(getattr(config, key))
        if getattr(self.processor, "image_token_id", None) is not None:
            return int(self.processor.image_token_id)
        token = getattr(self.processor, "image_token", None)
        if token is None:
            raise ValueError(f"{self.name or type(self.model).__name__}: cannot find the image token in the config or the processor")
        return int(self.tokenizer.convert_tokens_to_ids(token))

    def _say_once(self, line: str) -> None:
        if line not in self._said:
            self._said.add(line)
            logging.getLogger(__name__).warning("%s (generic adapter): %s", self.name or self.model.config.model_type, line)

    def image_processor_kwargs(self):
        return {}

    def _feature_inputs(self, image_inputs: dict) -> dict:
        return {k: v for k, v in image_inputs.items() if k in self._signature}

    def unit_layout(self, pixel_values, image_inputs, n_visual_tokens, image_size):
        if "image_grid_thw" in image_inputs and pixel_values.dim() == 2:
            merge = int(getattr(self.model.config.vision_config, "spatial_merge_size", 1) or 1)
            return merged_patch_layout(pixel_values, image_inputs["image_grid_thw"], merge, n_visual_tokens)
        views = pixel_values.reshape(-1, *pixel_values.shape[-3:])
        n_views, _, height, width = views.shape
        per_view, rest = divmod(n_visual_tokens, n_views)
        g = math.isqrt(per_view) if not rest else 0
        if height != width or g == 0 or g * g != per_view or height % g:
            raise PromptLayoutError(
                f"generic adapter: {n_visual_tokens} image tokens over {n_views} pixel view(s) of {height}×{width} px are not "
                "one square token grid per square view; this architecture needs a dedicated adapter"
            )
        if n_views > 1:
            self._say_once(f"{n_views} pixel views are treated as independent tiles of {g}×{g} units each "
                           "(nothing in the config says whether one is a thumbnail of the others)")
        cell = height // g
        coords = torch.arange(height) // cell
        within = coords[:, None] * g + coords[None, :]
        unit_index = torch.stack([v * per_view + within for v in range(n_views)]).reshape(*pixel_values.shape[:-3], 1, height, width)
        n_units = n_views * per_view
        grid = np.concatenate([v * per_view + np.arange(per_view).reshape(g, g) for v in range(n_views)], axis=1)
        return unit_index, n_units, grid, torch.eye(n_units)

    def image_features(self, pixel_values, n_variants, image_inputs):
        inputs = self._feature_inputs(image_inputs)
        if "image_grid_thw" in inputs:
            inputs["image_grid_thw"] = inputs["image_grid_thw"].repeat(n_variants, 1)
        if "image_sizes" in inputs:
            inputs["image_sizes"] = inputs["image_sizes"].repeat(n_variants, 1)
        features = self.model.get_image_features(pixel_values=pixel_values, **inputs)
        if isinstance(features, (list, tuple)):
            features = torch.cat([f.reshape(-1, f.shape[-1]) for f in features])
        return features.reshape(n_variants, -1, features.shape[-1])

    def language_model_inputs(self, input_ids, image_inputs):
        rope_index = getattr(getattr(self.model, "model", None), "get_rope_index", None)
        if rope_index is None or "image_grid_thw" not in image_inputs:
            return {}
        return {"position_ids": mrope_position_ids(rope_index, input_ids, image_inputs["image_grid_thw"])}
