"""Tiny twin of ``llava-hf/llava-onevision-qwen2-0.5b-ov-hf`` (LLaVA-OneVision: SigLIP + Qwen2, anyres_max_9)."""

from __future__ import annotations

import functools
from typing import Any

from synfaith.testing.families._common import qwen2_text_config, qwen2_tokenizer, rescale_settings, siglip_vision_config
from synfaith.testing.twin_recipe import TwinRecipe

# real: 384 px tiles, patch 14 -> 27x27 cells (+6 unseen px); pinpoints (h, w) = 384·i × 384·j, i, j in 1..6
SPEC: dict[str, Any] = {
    "tile_size": 32,
    "patch_size": 14,  # 2x2 cells per view, 4 unseen px at the right/bottom of each view
    "image_grid_pinpoints": [[32 * i, 32 * j] for i in range(1, 7) for j in range(1, 7)],
    "vision_aspect_ratio": "anyres_max_9",
}
# the tests' larger twin: 4x4 cells per view (4 unseen px), enough rows for unpadding to drop some
WIDE_SPEC: dict[str, Any] = {**SPEC, "tile_size": 60, "image_grid_pinpoints": [[60 * i, 60 * j] for i in range(1, 7) for j in range(1, 7)]}

# Qwen2 tokenizer: <|endoftext|>=151643 <|im_start|>=151644 <|im_end|>=151645, then the
# llava-hf additions <image>=151646 <video>=151647
SPECIAL_TOKENS = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<image>", True), ("<video>", True)]

# the checkpoint's chat_template.json
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tokenizer():
    """Byte-level Qwen2-style tokenizer with the checkpoint's added tokens and chat template."""
    # additional special tokens: <|im_start|>, <|im_end|>, <image>, <video>
    return qwen2_tokenizer(SPECIAL_TOKENS, chat_template=CHAT_TEMPLATE, model_max_length=32768)


def config(tok, spec=None):
    """A tiny ``LlavaOnevisionConfig``: SigLIP tower (last layer, "full"), Qwen2 LM, anyres_max_9."""
    from transformers import LlavaOnevisionConfig, Qwen2Config

    s = spec or SPEC
    ids = {t: tok.convert_tokens_to_ids(t) for t, _ in SPECIAL_TOKENS}
    vision = siglip_vision_config(s["tile_size"], s["patch_size"])
    # GQA 4 heads / 2 KV heads (real: 14 heads, 2 KV heads), tied embeddings as the 0.5B
    text = Qwen2Config(**qwen2_text_config(tok, max_position_embeddings=32768, use_sliding_window=False))
    return LlavaOnevisionConfig(
        architectures=["LlavaOnevisionForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        projector_hidden_act="gelu",
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        vision_aspect_ratio=s["vision_aspect_ratio"],
        image_grid_pinpoints=s["image_grid_pinpoints"],
        multimodal_projector_bias=True,
        tie_word_embeddings=True,
    )


def processor(tok, spec=None):
    """``LlavaOnevisionProcessor`` (no video processor) with the slow image processor at the twin's sizes."""
    from transformers import LlavaOnevisionImageProcessor

    from synfaith.models.llava_onevision import ImageOnlyLlavaOnevisionProcessor

    s = spec or SPEC
    ip = LlavaOnevisionImageProcessor(
        size={"height": s["tile_size"], "width": s["tile_size"]},
        image_grid_pinpoints=s["image_grid_pinpoints"],
        **rescale_settings(),
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_pad=True,
    )
    return ImageOnlyLlavaOnevisionProcessor(
        image_processor=ip,
        tokenizer=tok,
        num_image_tokens=(s["tile_size"] // s["patch_size"]) ** 2,
        vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio=s["vision_aspect_ratio"],
    )


def make_recipe(spec: dict[str, Any] | None = None) -> TwinRecipe:
    """The twin recipe at the sizes of ``spec`` (default :data:`SPEC`; the tests also build a larger one)."""
    s = dict(spec or SPEC)
    return TwinRecipe(
        arch="llava_onevision",
        model_class="LlavaOnevisionForConditionalGeneration",
        twin_of="llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        tokenizer=tokenizer,
        config=functools.partial(config, spec=s),
        processor=lambda tok, spec=None: processor(tok, spec or s),
        extra_eos=("<|endoftext|>",),
        notes=(
            f"Tiles {s['tile_size']} px instead of 384 with patch 14 kept: {s['tile_size'] // 14}x{s['tile_size'] // 14} "
            "cells per view and a strip of unseen px per side, as the real 27x27 cells leave 6 px of each 384 px view "
            "unseen. The 36 grid pinpoints are the real 1-6 x 1-6 tile grids at the twin's tile size and "
            "vision_aspect_ratio stays anyres_max_9, so unpadding, newline tokens and the bilinear shrink of large "
            "grids (above 1.1^2 * 9 * g^2 cells) are the real arithmetic. The default twin has 2x2 cells per view so "
            "that a square test image (2x2 tiles, 16 units) fits the kit's explainer budgets; the family tests also "
            "build WIDE_SPEC (4x4 cells), where unpadding drops cells. SigLIP and Qwen2 (GQA 4/2 heads, tied "
            "embeddings as the 0.5B) at the shared tiny widths; byte-level tokenizer with the real added tokens in "
            "order; the real chat template; the processor has no video processor (no torchvision)."
            " Image processor: mean/std 0.5, bicubic resize, zero padding, size = the tile, as the real one."
        ),
        spec=s,
    )


RECIPE = make_recipe()
