"""Tiny random-weight twins of the three studied vision-language models, built offline.

:func:`build_twin` writes a checkpoint directory (``config.json``, ``model.safetensors``,
``generation_config.json``, tokenizer files, image-processor and processor configs and the
chat template) for one of

* ``"llava"``      — ``LlavaForConditionalGeneration`` (CLIP vision tower + Llama LM), twin of
  ``llava-hf/llava-1.5-7b-hf``;
* ``"qwen2_5_vl"`` — ``Qwen2_5_VLForConditionalGeneration``, twin of
  ``Qwen/Qwen2.5-VL-3B-Instruct``;
* ``"internvl"``   — ``InternVLForConditionalGeneration`` (transformers-native), twin of
  ``OpenGVLab/InternVL3-1B-hf``.

The real transformers classes are used with tiny widths (vision hidden 32, LM hidden 64,
two layers each), so a forward pass takes milliseconds on a CPU, while the token-layout
mechanics are the real ones: CLIP resize + centre crop, Qwen2.5-VL ``smart_resize`` with
2×2 patch merging, InternVL GotOcr2 tiling with a thumbnail and 0.5 pixel shuffle.

The tokenizer (:mod:`synfaith.testing.twins_tokenizers`) is a byte-level BPE (ids 0–255 are
the bytes, no merges) followed by every special / added token of the real checkpoint, in the
real order (see :data:`SPECIAL_TOKENS`). The vocabulary of the model is padded to a multiple
of 64, as real checkpoints pad theirs.

Building and loading a twin::

    path = synfaith.testing.build_twin("qwen2_5_vl", tmp_dir, seed=0)
    adapter = synfaith.models.load_model(path)                    # the synfaith adapter
    processor = synfaith.models.processors.load_processor(path)   # never needs torchvision

Same ``seed`` → bit-identical weights; the caller's global RNG state is left untouched.
"""

from __future__ import annotations

import pathlib
from typing import Any

from synfaith.registry import Registry
from synfaith.testing.families._common import (
    mrope_section,
    qwen_vl_token_ids,
    qwen2_image_processor,
    qwen2_text_config,
    rescale_settings,
    tiny_text_widths,
    tiny_vision_widths,
)
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe, write_twin
from synfaith.testing.twins_tokenizers import (
    CHAT_TEMPLATES,
    SPECIAL_TOKENS,
    build_tokenizer,
)

__all__ = [
    "ARCHS",
    "CHAT_TEMPLATES",
    "SPEC",
    "SPECIAL_TOKENS",
    "TWIN_RECIPES",
    "build_processor",
    "build_tokenizer",
    "build_twin",
    "families",
    "model_class",
]

ARCHS: tuple[str, ...] = ("llava", "qwen2_5_vl", "internvl")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# --------------------------------------------------------------------------------------
# Sizes. Real values in comments.
# --------------------------------------------------------------------------------------
SPEC: dict[str, dict[str, Any]] = {
    "llava": {
        # real: 336 px crop, patch 14 -> 24x24 = 576 tokens
        "image_size": 56,
        "patch_size": 14,
        "grid": 4,  # cells per row of the (only) view
        "image_tokens": 16,
    },
    "qwen2_5_vl": {
        # real: min_pixels 3136 (56^2), max_pixels 12845056; patch 14, merge 2, temporal 2
        "patch_size": 14,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "min_pixels": 56 * 56,  # >= 2x2 merged tokens
        "max_pixels": 224 * 224,  # <= 8x8 = 64 merged tokens
    },
    "internvl": {
        # real: 448 px tiles, patch 14 -> 32x32 -> pixel shuffle 0.5 -> 16x16 = 256 per tile
        "tile_size": 112,
        "patch_size": 14,
        "grid": 4,  # cells per row of each tile after the pixel shuffle
        "image_seq_length": 16,  # tokens per tile
        "min_patches": 1,
        "max_patches": 12,
        "downsample_ratio": 0.5,
    },
}

_VISION_HIDDEN = TINY["vision_hidden"]
_VISION_HEADS = TINY["vision_heads"]
_VISION_LAYERS = TINY["vision_layers"]
_TEXT_HIDDEN = TINY["text_hidden"]
_TEXT_HEADS = TINY["text_heads"]
_TEXT_LAYERS = TINY["text_layers"]


# --------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------
def _llava_config(tok):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    s = SPEC["llava"]
    vision = CLIPVisionConfig(
        **tiny_vision_widths(),
        image_size=s["image_size"],
        patch_size=s["patch_size"],
        projection_dim=_VISION_HIDDEN,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<image>", "<pad>")}
    text = LlamaConfig(
        **tiny_text_widths(tok, kv_heads=_TEXT_HEADS),
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
    )
    return LlavaConfig(
        architectures=[_CLASS_NAMES["llava"]],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<image>"],
        projector_hidden_act="gelu",
        vision_feature_layer=-2,  # penultimate CLIP layer, as LLaVA-1.5
        vision_feature_select_strategy="default",  # drop CLS
        image_seq_length=s["image_tokens"],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )


def _qwen_config(tok):
    from transformers import Qwen2_5_VLConfig

    s = SPEC["qwen2_5_vl"]
    head_dim = _TEXT_HIDDEN // _TEXT_HEADS
    half = head_dim // 2  # real: head_dim 128, mrope_section [16, 24, 24]
    mrope = mrope_section(half)
    text = qwen2_text_config(
        tok,
        max_position_embeddings=128000,
        use_sliding_window=False,
        sliding_window=32768,
        max_window_layers=_TEXT_LAYERS,
        rope_scaling={"type": "mrope", "mrope_section": mrope},
    )
    vision = dict(
        depth=_VISION_LAYERS,
        hidden_size=_VISION_HIDDEN,
        hidden_act="silu",
        intermediate_size=2 * _VISION_HIDDEN,
        num_heads=_VISION_HEADS,
        in_channels=3,
        patch_size=s["patch_size"],
        spatial_merge_size=s["merge_size"],
        temporal_patch_size=s["temporal_patch_size"],
        tokens_per_second=2,
        window_size=112,  # 112 px windows = 4x4 merged tokens, as the real model
        out_hidden_size=_TEXT_HIDDEN,
        fullatt_block_indexes=[_VISION_LAYERS - 1],  # real: [7, 15, 23, 31] of 32
    )
    return Qwen2_5_VLConfig(
        architectures=[_CLASS_NAMES["qwen2_5_vl"]],
        text_config=text,
        vision_config=vision,
        **qwen_vl_token_ids(tok),
        tie_word_embeddings=True,
    )


def _internvl_config(tok):
    from transformers import InternVLConfig

    s = SPEC["internvl"]
    vision = dict(
        **tiny_vision_widths(),
        image_size=[s["tile_size"], s["tile_size"]],
        patch_size=[s["patch_size"], s["patch_size"]],
        hidden_act="gelu",
        norm_type="layer_norm",
        layer_norm_eps=1e-6,
        attention_bias=True,
        use_qk_norm=False,
        use_mean_pooling=True,
        layer_scale_init_value=0.1,
        use_absolute_position_embeddings=True,
    )
    text = qwen2_text_config(tok, model_type="qwen2", max_position_embeddings=32768)
    return InternVLConfig(
        architectures=[_CLASS_NAMES["internvl"]],
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=s["image_seq_length"],
        downsample_ratio=s["downsample_ratio"],
        projector_hidden_act="gelu",
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=True,
    )


# --------------------------------------------------------------------------------------
# Processors
# --------------------------------------------------------------------------------------
def build_processor(arch: str, tok, spec: dict[str, Any] | None = None):
    """The processor of ``arch`` over tokenizer ``tok``, with the image sizes of ``spec``
    (default :data:`SPEC`, the twins'; ``benchmarks/full_size.py`` passes the real ones)."""
    from transformers import CLIPImageProcessor, GotOcr2ImageProcessor

    from synfaith.models.processors import (
        ImageOnlyInternVLProcessor,
        ImageOnlyLlavaProcessor,
        ImageOnlyQwen2_5_VLProcessor,
    )

    s = spec or SPEC[arch]
    # shared by all three: bicubic resize, rescale to [0, 1], normalise, convert to RGB
    common = rescale_settings()
    if arch == "llava":
        ip = CLIPImageProcessor(
            size={"shortest_edge": s["image_size"]},
            do_center_crop=True,
            crop_size={"height": s["image_size"], "width": s["image_size"]},
            image_mean=OPENAI_CLIP_MEAN,
            image_std=OPENAI_CLIP_STD,
            **common,
        )
        return ImageOnlyLlavaProcessor(
            image_processor=ip,
            tokenizer=tok,
            patch_size=s["patch_size"],
            vision_feature_select_strategy="default",
            chat_template=CHAT_TEMPLATES[arch],
            image_token="<image>",
            num_additional_image_tokens=1,  # CLS
        )
    if arch == "qwen2_5_vl":
        ip = qwen2_image_processor(s, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD)
        return ImageOnlyQwen2_5_VLProcessor(image_processor=ip, tokenizer=tok, chat_template=CHAT_TEMPLATES[arch])
    ip = GotOcr2ImageProcessor(
        size={"height": s["tile_size"], "width": s["tile_size"]},
        crop_to_patches=False,  # the processor turns tiling on by default, as the real one
        min_patches=s["min_patches"],
        max_patches=s["max_patches"],
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        **common,
    )
    return ImageOnlyInternVLProcessor(
        image_processor=ip,
        tokenizer=tok,
        image_seq_length=s["image_seq_length"],
        chat_template=CHAT_TEMPLATES[arch],
    )


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
_CLASS_NAMES = {
    "llava": "LlavaForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "internvl": "InternVLForConditionalGeneration",
}
_TWIN_OF = {"llava": "llava-hf/llava-1.5-7b-hf", "qwen2_5_vl": "Qwen/Qwen2.5-VL-3B-Instruct", "internvl": "OpenGVLab/InternVL3-1B-hf"}
_CONFIGS = {"llava": _llava_config, "qwen2_5_vl": _qwen_config, "internvl": _internvl_config}


def _paper_recipe(arch: str) -> TwinRecipe:
    return TwinRecipe(
        arch=arch,
        model_class=_CLASS_NAMES[arch],
        twin_of=_TWIN_OF[arch],
        tokenizer=lambda: build_tokenizer(arch),
        config=_CONFIGS[arch],
        processor=lambda tok, spec: build_processor(arch, tok, spec),
        extra_eos=("<|endoftext|>",) if arch == "qwen2_5_vl" else (),  # real: eos [<|im_end|>, <|endoftext|>]
        spec=SPEC[arch],
    )


# Every family with a twin: the paper's three here, the others one module each in
# synfaith.testing.families (``"module:attribute"`` of their TwinRecipe).
_FAMILIES = "synfaith.testing.families"
TWIN_RECIPES: Registry[TwinRecipe] = Registry(
    "twin recipe (arch)",
    {
        "llava": f"{__name__}:LLAVA_RECIPE",
        "qwen2_5_vl": f"{__name__}:QWEN2_5_VL_RECIPE",
        "internvl": f"{__name__}:INTERNVL_RECIPE",
        "llava_next": f"{_FAMILIES}.llava_next:RECIPE",
        "llava_onevision": f"{_FAMILIES}.llava_onevision:RECIPE",
        # one line per family: its recipe module in synfaith.testing.families
        "gemma3": f"{_FAMILIES}.gemma3:RECIPE",
        "paligemma": f"{_FAMILIES}.paligemma:RECIPE",
        "mistral3": f"{_FAMILIES}.mistral3:RECIPE",
        "aya_vision": f"{_FAMILIES}.aya_vision:RECIPE",
        "qwen2_vl": f"{_FAMILIES}.qwen2_vl:RECIPE",
        "qwen3_vl": f"{_FAMILIES}.qwen3_vl:RECIPE",
        "glm4v": f"{_FAMILIES}.glm4v:RECIPE",
        "mllama": f"{_FAMILIES}.mllama:RECIPE",
        "idefics3": f"{_FAMILIES}.idefics3:RECIPE",
        "smolvlm": f"{_FAMILIES}.smolvlm:RECIPE",
    },
)
LLAVA_RECIPE, QWEN2_5_VL_RECIPE, INTERNVL_RECIPE = (_paper_recipe(arch) for arch in ARCHS)


def families() -> tuple[str, ...]:
    """Every arch with a twin recipe beyond the paper's three (:data:`ARCHS`), sorted."""
    return tuple(name for name in TWIN_RECIPES.names() if name not in ARCHS)


def model_class(model_type: str):
    """The ``*ForConditionalGeneration`` class for a config ``model_type``."""
    if model_type not in TWIN_RECIPES:
        raise ValueError(f"unsupported model_type {model_type!r}; expected one of {tuple(TWIN_RECIPES.names())}")
    return TWIN_RECIPES[model_type].transformers_class()


def build_twin(arch: str, out_dir, seed: int = 0) -> pathlib.Path:
    """Write a random-weight tiny twin of ``arch`` into ``out_dir`` and return its path.

    ``arch`` is one of :data:`ARCHS` or :func:`families`. Same ``seed`` → identical weights (the
    global torch RNG state is restored afterwards). Everything is built offline in about a second.
    """
    if arch not in TWIN_RECIPES:
        raise ValueError(f"unknown arch {arch!r}; expected one of {tuple(TWIN_RECIPES.names())}")
    return write_twin(TWIN_RECIPES[arch], out_dir, seed)
