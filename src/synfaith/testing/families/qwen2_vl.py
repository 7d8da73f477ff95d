"""Tiny random-weight twin of ``Qwen/Qwen2-VL-2B-Instruct`` (``Qwen2VLForConditionalGeneration``).

Same token layout as the real checkpoint: the Qwen2 tokenizer's 22 added tokens in their real
order (``<|endoftext|>`` 151643 … ``<|file_sep|>`` 151664, here ids 256…277), the
Qwen2-VL-Instruct chat template (the default system prompt, then
``<|vision_start|><|image_pad|><|vision_end|>`` before the question), and the slow
``Qwen2VLImageProcessor`` with the real patch 14, temporal patch 2, 2×2 merge and CLIP
normalisation; only the pixel bounds are scaled down (see :data:`SPEC`).
"""

from __future__ import annotations

from typing import Any

from synfaith.testing.families._common import (
    mrope_section,
    qwen2_image_processor,
    qwen2_text_config,
    qwen2_tokenizer,
    qwen_vl_token_ids,
)
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe
from synfaith.testing.twins_tokenizers import _QWEN_ADDED, CHAT_TEMPLATES

__all__ = ["RECIPE", "SPEC", "build_config", "build_processor", "build_tokenizer"]

SPEC: dict[str, Any] = {
    # real preprocessor_config: min_pixels 3136 (56²), max_pixels 12845056; patch 14, merge 2, temporal 2
    "patch_size": 14,
    "merge_size": 2,
    "temporal_patch_size": 2,
    # raised above the real 56²: a 64 px scene becomes 112², 4×4 merged tokens instead of 2×2 (see notes)
    "min_pixels": 112 * 112,
    "max_pixels": 224 * 224,  # <= 8×8 = 64 merged tokens
}

# Qwen2-VL-Instruct's chat template is character for character the one Qwen2.5-VL-Instruct ships
# (default system prompt, vision markers, optional "Picture n:" ids); it is shared, not copied.
CHAT_TEMPLATE = CHAT_TEMPLATES["qwen2_5_vl"]


def build_tokenizer():
    """Byte-level Qwen2 tokenizer with Qwen2-VL's added tokens and chat template."""
    return qwen2_tokenizer(_QWEN_ADDED, chat_template=CHAT_TEMPLATE, model_max_length=32768)


def build_config(tok):
    """Tiny ``Qwen2VLConfig``: real special-token ids (by name), M-RoPE, the real vision layout."""
    from transformers import Qwen2VLConfig

    head_dim = TINY["text_hidden"] // TINY["text_heads"]
    half = head_dim // 2  # real: head_dim 128 -> mrope_section [16, 24, 24] over 64
    # Qwen2 LM, GQA 4 heads / 2 KV heads (real: 12 heads, 2 KV heads)
    text = qwen2_text_config(
        tok,
        max_position_embeddings=32768,
        use_sliding_window=False,
        sliding_window=32768,
        max_window_layers=TINY["text_layers"],
        rope_scaling={"type": "mrope", "mrope_section": mrope_section(half)},
    )
    vision = dict(
        depth=TINY["vision_layers"],
        embed_dim=TINY["vision_hidden"],
        hidden_size=TINY["text_hidden"],  # the merger projects into the LM's width
        hidden_act="quick_gelu",
        mlp_ratio=4,
        num_heads=TINY["vision_heads"],
        in_channels=3,
        patch_size=SPEC["patch_size"],
        spatial_merge_size=SPEC["merge_size"],
        temporal_patch_size=SPEC["temporal_patch_size"],
    )
    return Qwen2VLConfig(
        architectures=["Qwen2VLForConditionalGeneration"],
        text_config=text,
        vision_config=vision,
        **qwen_vl_token_ids(tok),
        tie_word_embeddings=True,
    )


def build_processor(tok, spec=None):
    """The image-only ``Qwen2VLProcessor`` (slow ``Qwen2VLImageProcessor``) over ``tok``."""
    from synfaith.models.qwen2_vl import ImageOnlyQwen2VLProcessor

    ip = qwen2_image_processor(spec or SPEC, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD)
    return ImageOnlyQwen2VLProcessor(image_processor=ip, tokenizer=tok, chat_template=CHAT_TEMPLATE)


RECIPE = TwinRecipe(
    arch="qwen2_vl",
    model_class="Qwen2VLForConditionalGeneration",
    twin_of="Qwen/Qwen2-VL-2B-Instruct",
    tokenizer=build_tokenizer,
    config=build_config,
    processor=build_processor,
    extra_eos=("<|endoftext|>",),  # real generation_config: eos [<|im_end|>, <|endoftext|>]
    notes=(
        "Widths cut to synfaith.testing.twin_recipe.TINY (vision embed 32, 2 blocks; LM hidden 64, 2 layers, "
        "4 heads / 2 KV heads; real: 1280-wide 32-block ViT, 1536-wide 28-layer Qwen2 LM with 12 / 2 heads). "
        "mrope_section [2, 3, 3] over the tiny head_dim 16 keeps the real [16, 24, 24] proportions. "
        "Vocabulary: the 256 bytes plus the 22 real added tokens in their real order (no BPE merges), padded to "
        "a multiple of 64. Image processor: the real patch 14 / merge 2 / temporal 2 / CLIP mean-std / bicubic, "
        "with pixel bounds 112²..224² instead of 56²..3584² so a twin image is 4×4 to 8×8 merged tokens "
        "(milliseconds per forward pass). The lower bound is above the real one on purpose: at the real 56² "
        "a 64 px test scene is 2×2 tokens, and over 4 near-identical tokens a random-weight model's ReLU'd "
        "maps (GradCAM, TAM) are all zero by chance (an all-equal attribution, which is an error); the adapter's default cap (max_pixels 313600) is passed per call "
        "as on the real checkpoint. Chat template: the real Qwen2-VL-Instruct one."
    ),
    spec=SPEC,
)
