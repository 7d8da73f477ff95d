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

__all__ = [
    "ImageOnlyInternVLProcessor",
    "ImageOnlyLlavaProcessor",
    "ImageOnlyQwen2_5_VLProcessor",
    "image_only_processor",
    "load_processor",
    "read_model_type",
    "read_config",
]

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


def _init_without_video(stock: type):
    """``stock.__init__`` without its ``video_processor`` parameter, with an explicit signature.

    ``ProcessorMixin.from_pretrained`` reads the accepted keywords from ``__init__.__code__``,
    so the signature is written out (the stock one, less ``video_processor``) rather than
    taken as ``*args, **kwargs``.
    """
    import inspect

    parameters = [p for name, p in inspect.signature(stock.__init__).parameters.items() if name not in ("self", "video_processor")]
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    defaults = {p.name: (None if p.default is p.empty else p.default) for p in named}
    passes_video = "video_processor" in inspect.signature(stock.__init__).parameters
    source = (
        "def __init__(self, " + "".join(f"{p.name}=_defaults[{p.name!r}], " for p in named) + "**kwargs):\n"
        "    _stock_init(self, " + "".join(f"{p.name}={p.name}, " for p in named)
        + ("video_processor=None, " if passes_video else "") + "**kwargs)\n"
    )
    namespace = {"_defaults": defaults, "_stock_init": stock.__init__}
    exec(source, namespace)  # noqa: S102 - a signature built from the stock class's own parameter names
    return namespace["__init__"]


def image_only_processor(stock: type, image_processor_class: str, **extra) -> type:
    """A subclass of the stock processor ``stock`` without its video processor (no torchvision).

    Images only: calling it with ``videos=`` raises. The image processor is pinned to the slow
    ``image_processor_class`` (numpy/PIL), so preprocessing is the same with or without
    torchvision; saving writes the stock class name. ``extra`` become class attributes.
    A new adapter whose stock processor carries a video processor builds its processor with
    this, in its own module::

        ImageOnlyQwen2VLProcessor = image_only_processor(Qwen2VLProcessor, "Qwen2VLImageProcessor")
    """
    stock_name = stock.__name__

    __init__ = _init_without_video(stock)

    def __call__(self, images=None, text=None, *args, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{type(self).__name__} handles images only (no video processor).")
        return stock.__call__(self, images=images, text=text, *args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        out = stock.save_pretrained(self, save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, stock_name)
        return out

    namespace = {
        "__doc__": f"``{stock_name}`` without the video processor, with the slow ``{image_processor_class}``.",
        "__module__": extra.pop("module", __name__),
        "attributes": [a for a in stock.attributes if a != "video_processor"],
        "image_processor_class": image_processor_class,
        "__init__": __init__,
        "__call__": __call__,
        "save_pretrained": save_pretrained,
        **extra,
    }
    if hasattr(stock, "video_processor_class"):
        namespace["video_processor_class"] = None
    return type(f"ImageOnly{stock_name}", (stock,), namespace)


ImageOnlyQwen2_5_VLProcessor = image_only_processor(Qwen2_5_VLProcessor, "Qwen2VLImageProcessor")
ImageOnlyQwen2_5_VLProcessor.__doc__ = """``Qwen2_5_VLProcessor`` without the video processor (no torchvision).

Images only: calling it with ``videos=`` raises. The image processor is the slow
``Qwen2VLImageProcessor`` (``min_pixels`` / ``max_pixels`` may be passed in the call).
"""

ImageOnlyInternVLProcessor = image_only_processor(InternVLProcessor, "GotOcr2ImageProcessor")
ImageOnlyInternVLProcessor.__doc__ = """``InternVLProcessor`` without the video processor (no torchvision).

Images only. The image processor is the slow ``GotOcr2ImageProcessor``; tiling is on by
default as in the stock processor, ``crop_to_patches=False`` in the call gives one tile.
"""


def read_config(path) -> dict:
    """A checkpoint directory's ``config.json`` as a dict."""
    config = pathlib.Path(path) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint directory: it has no config.json")
    with open(config, encoding="utf-8") as f:
        return json.load(f)


def read_model_type(path) -> str:
    """The ``model_type`` in a checkpoint directory's ``config.json``."""
    return read_config(path)["model_type"]


def load_processor(path, **kwargs):
    """The processor of a checkpoint directory (real or tiny twin), chosen by ``model_type``.

    The adapter registered for the ``model_type`` names the class
    (:meth:`VLMAdapter.processor_class <synfaith.models.base.VLMAdapter.processor_class>`): for
    the built-in ones the stock processor without its video processor and with the slow image
    processor, so nothing needs torchvision. ``kwargs`` go to ``from_pretrained``.
    """
    from synfaith.models.registry import adapter_for_checkpoint

    return adapter_for_checkpoint(path).processor_class().from_pretrained(os.fspath(path), **kwargs)
