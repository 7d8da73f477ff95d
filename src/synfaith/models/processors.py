"""Image+text processors for Qwen2.5-VL and InternVL that do not need torchvision.

The stock ``Qwen2_5_VLProcessor`` and ``InternVLProcessor`` (transformers 4.57) have a third
attribute, ``video_processor``, whose classes import torchvision. These subclasses drop that
attribute (images only) and pin the slow, numpy/PIL image processors, so preprocessing is
identical on every machine whether torchvision is installed or not.

Load them from a checkpoint directory (a real one or one written by
:func:`synfaith.testing.twins.build_twin`)::

    ImageOnlyLlavaProcessor.from_pretrained(path)        # LLaVA-1.5 (stock class works too)
    ImageOnlyQwen2_5_VLProcessor.from_pretrained(path)
    ImageOnlyInternVLProcessor.from_pretrained(path)

or use :func:`load_processor`, which picks the class from ``config.json``. ``AutoProcessor.from_pretrained(path)`` is not a substitute: without
torchvision it cannot build the video processor and may return only the tokenizer.

Saving one of these processors writes the *stock* processor class name into the directory,
so the directory keeps looking like the real checkpoint.
"""

from __future__ import annotations

import json
import os
import pathlib

from transformers import InternVLProcessor, LlavaProcessor, Qwen2_5_VLProcessor

__all__ = ["ImageOnlyInternVLProcessor", "ImageOnlyLlavaProcessor", "ImageOnlyQwen2_5_VLProcessor", "load_processor", "read_model_type"]

_CONFIG_FILES = ("preprocessor_config.json", "processor_config.json", "tokenizer_config.json")


def _restore_stock_processor_class(save_directory, stock_name: str) -> None:
    """Rewrite ``processor_class`` in the saved JSON files to the stock class name."""
    for name in _CONFIG_FILES:
        path = os.path.join(save_directory, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if "processor_class" in data and data["processor_class"] != stock_name:
            data["processor_class"] = stock_name
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
                f.write("\n")


class ImageOnlyLlavaProcessor(LlavaProcessor):
    """``LlavaProcessor`` pinned to the slow ``CLIPImageProcessor``.

    The stock class needs no torchvision; this one only makes preprocessing identical on
    machines with and without torchvision (``AutoImageProcessor`` may pick the fast class).
    """

    image_processor_class = "CLIPImageProcessor"

    def save_pretrained(self, save_directory, *args, **kwargs):
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "LlavaProcessor")
        return out


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video processor (no torchvision).

    Images only: calling it with ``videos=`` raises. The image processor is the slow
    ``Qwen2VLImageProcessor`` (``min_pixels`` / ``max_pixels`` may be passed in the call).
    """

    attributes = ["image_processor", "tokenizer"]
    image_processor_class = "Qwen2VLImageProcessor"

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def __call__(self, images=None, text=None, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{type(self).__name__} handles images only (no video processor).")
        return super().__call__(images=images, text=text, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "Qwen2_5_VLProcessor")
        return out


class ImageOnlyInternVLProcessor(InternVLProcessor):
    """``InternVLProcessor`` without the video processor (no torchvision).

    Images only. The image processor is the slow ``GotOcr2ImageProcessor``; tiling is on by
    default as in the stock processor, ``crop_to_patches=False`` in the call gives one tile.
    """

    attributes = ["image_processor", "tokenizer"]
    image_processor_class = "GotOcr2ImageProcessor"

    def __init__(
        self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None, **kwargs
    ):
        super().__init__(
            image_processor,
            tokenizer,
            None,
            image_seq_length=image_seq_length,
            chat_template=chat_template,
            **kwargs,
        )

    def __call__(self, images=None, text=None, audio=None, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{type(self).__name__} handles images only (no video processor).")
        return super().__call__(images=images, text=text, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "InternVLProcessor")
        return out


def read_model_type(path) -> str:
    """The ``model_type`` in a checkpoint directory's ``config.json``."""
    config = pathlib.Path(path) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint directory: it has no config.json")
    with open(config, encoding="utf-8") as f:
        return json.load(f)["model_type"]


def load_processor(path, **kwargs):
    """The processor of a checkpoint directory (real or tiny twin), chosen by ``model_type``.

    ``llava`` → :class:`ImageOnlyLlavaProcessor`, ``qwen2_5_vl`` →
    :class:`ImageOnlyQwen2_5_VLProcessor`, ``internvl`` → :class:`ImageOnlyInternVLProcessor`:
    the stock processors without video processors and with the slow image processors, so
    nothing needs torchvision. ``kwargs`` go to ``from_pretrained``.
    """
    classes = {
        "llava": ImageOnlyLlavaProcessor,
        "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
        "internvl": ImageOnlyInternVLProcessor,
    }
    model_type = read_model_type(path)
    if model_type not in classes:
        raise ValueError(f"no processor for model_type {model_type!r}; known: {', '.join(classes)}")
    return classes[model_type].from_pretrained(os.fspath(path), **kwargs)
