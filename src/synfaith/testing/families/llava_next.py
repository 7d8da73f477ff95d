"""Tiny twin of ``llava-hf/llava-v1.6-mistral-7b-hf`` (LLaVA-NeXT: CLIP + Mistral, anyres tiles)."""

from __future__ import annotations

import functools
from typing import Any

from synfaith.testing.families._common import mistral_text_config, mistral_tokenizer, rescale_settings, tiny_vision_widths
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe

# real: 336 px tiles, patch 14 -> 24x24 cells; pinpoints (h, w) 336x672 672x336 672x672 1008x336 336x1008
SPEC: dict[str, Any] = {
    "tile_size": 28,
    "patch_size": 14,  # 2x2 cells per view
    "image_grid_pinpoints": [[28, 56], [56, 28], [56, 56], [84, 28], [28, 84]],  # the real ones / 12
}
# the tests' larger twin: 4x4 cells per view, enough rows for unpadding to drop some
WIDE_SPEC: dict[str, Any] = {
    "tile_size": 56,
    "patch_size": 14,
    "image_grid_pinpoints": [[56, 112], [112, 56], [112, 112], [168, 56], [56, 168]],  # the real ones / 6
}

# llava-v1.6-mistral-7b-hf: <unk>=0 <s>=1 </s>=2 (Mistral v0.2), <image>=32000 <pad>=32001
SPECIAL_TOKENS = [("<unk>", True), ("<s>", True), ("</s>", True), ("<image>", True), ("<pad>", True)]

# the checkpoint's chat_template.json: "[INST] <image>\n{q} [/INST]" (the tokenizer adds <s>)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{{ '[INST] ' }}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ message['content'][0]['text'] + '<\\s> '}}"
    "{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}"
    "{% endfor %}"
)


def tokenizer():
    """Byte-level tokenizer with the checkpoint's special tokens, ``<s>`` prepended, Mistral template."""
    return mistral_tokenizer(SPECIAL_TOKENS, chat_template=CHAT_TEMPLATE, model_max_length=32768)


def config(tok, spec=None):
    """A tiny ``LlavaNextConfig``: CLIP vision tower, Mistral LM, the real feature layer/strategy."""
    from transformers import CLIPVisionConfig, LlavaNextConfig, MistralConfig

    s = spec or SPEC
    ids = {t: tok.convert_tokens_to_ids(t) for t, _ in SPECIAL_TOKENS}
    vision = CLIPVisionConfig(
        **tiny_vision_widths(),
        image_size=s["tile_size"],
        patch_size=s["patch_size"],
        projection_dim=TINY["vision_hidden"],
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    # GQA 4 heads / 2 KV heads (real: 32 heads, 8 KV heads)
    text = MistralConfig(**mistral_text_config(tok, max_position_embeddings=32768, rope_theta=1000000.0))
    return LlavaNextConfig(
        architectures=["LlavaNextForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<image>"],
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_grid_pinpoints=s["image_grid_pinpoints"],
        image_seq_length=(s["tile_size"] // s["patch_size"]) ** 2,
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )


def processor(tok, spec=None):
    """``LlavaNextProcessor`` with the slow ``LlavaNextImageProcessor`` at the twin's (or ``spec``'s) sizes."""
    from transformers import LlavaNextImageProcessor

    from synfaith.models.llava_next import ImageOnlyLlavaNextProcessor

    s = spec or SPEC
    ip = LlavaNextImageProcessor(
        size={"shortest_edge": s["tile_size"]},
        crop_size={"height": s["tile_size"], "width": s["tile_size"]},
        image_grid_pinpoints=s["image_grid_pinpoints"],
        do_center_crop=True,
        **rescale_settings(),
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
        do_pad=True,
    )
    return ImageOnlyLlavaNextProcessor(
        image_processor=ip,
        tokenizer=tok,
        patch_size=s["patch_size"],
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,  # CLS
    )


def make_recipe(spec: dict[str, Any] | None = None) -> TwinRecipe:
    """The twin recipe at the sizes of ``spec`` (default :data:`SPEC`; the tests also build a larger one)."""
    s = dict(spec or SPEC)
    return TwinRecipe(
        arch="llava_next",
        model_class="LlavaNextForConditionalGeneration",
        twin_of="llava-hf/llava-v1.6-mistral-7b-hf",
        tokenizer=tokenizer,
        config=functools.partial(config, spec=s),
        processor=lambda tok, spec=None: processor(tok, spec or s),
        notes=(
            f"Tiles {s['tile_size']} px instead of 336 with patch 14 kept ({s['tile_size'] // 14}x{s['tile_size'] // 14} "
            "cells per view instead of 24x24); the grid pinpoints are the real five scaled by the same factor (1x2, 2x1, "
            "2x2, 3x1, 1x3 tiles), so tile choice, padding, unpadding and newline tokens follow the real arithmetic. "
            "The default twin has 2x2 cells per view so that a square test image (2x2 tiles, 16 units) fits the kit's "
            "explainer budgets; unpadding then rarely drops a cell, so the family tests also build WIDE_SPEC (4x4). "
            "Mistral LM with GQA (4 heads, 2 KV heads) at the shared tiny widths; byte-level tokenizer with the real "
            "special tokens in id order; the real Mistral chat template."
            " Image processor: CLIP mean/std, bicubic resize, zero padding, shortest edge and crop = the tile, as the real one."
        ),
        spec=s,
    )


RECIPE = make_recipe()
