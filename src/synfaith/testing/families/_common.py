"""Pieces several twin recipes share: the tiny widths as config arguments, the image
processors' common rescale settings, and the Qwen2-style LM, tokenizer and image processor
(used by the Qwen2.5-VL / InternVL paper twins and the Qwen2-VL, Qwen3-VL, LLaVA-OneVision twins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synfaith.testing.twin_recipe import TINY, byte_level_tokenizer, pad64, qwen2_tokenizer

__all__ = [
    "gemma_text_config",
    "mistral_text_config",
    "mistral_tokenizer",
    "mrope_section",
    "qwen2_image_processor",
    "qwen2_text_config",
    "qwen2_tokenizer",
    "qwen_vl_token_ids",
    "rescale_settings",
    "siglip_vision_config",
    "tiny_text_widths",
    "tiny_vision_widths",
]


def tiny_vision_widths() -> dict[str, int]:
    """The vision tower's :data:`TINY` widths as config arguments (MLP twice the hidden width)."""
    return dict(
        hidden_size=TINY["vision_hidden"],
        intermediate_size=2 * TINY["vision_hidden"],
        num_hidden_layers=TINY["vision_layers"],
        num_attention_heads=TINY["vision_heads"],
    )


def tiny_text_widths(tok, *, kv_heads: int = TINY["text_heads"] // 2) -> dict[str, int]:
    """The LM's :data:`TINY` widths as config arguments, vocabulary ``len(tok)`` padded to 64."""
    return dict(
        vocab_size=pad64(len(tok)),
        hidden_size=TINY["text_hidden"],
        intermediate_size=TINY["text_ffn"],
        num_hidden_layers=TINY["text_layers"],
        num_attention_heads=TINY["text_heads"],
        num_key_value_heads=kv_heads,
    )


def rescale_settings(resample: int = 3, *, convert_rgb: bool | None = True) -> dict[str, Any]:
    """Image-processor arguments most twins share: resize (``resample``, default bicubic),
    rescale to [0, 1], normalise, ``do_convert_rgb=convert_rgb``."""
    return dict(
        do_resize=True, resample=resample, do_rescale=True, rescale_factor=1 / 255, do_normalize=True, do_convert_rgb=convert_rgb
    )


def siglip_vision_config(image_size: int, patch_size: int, **overrides):
    """The tiny ``SiglipVisionConfig`` (no pooling head) on ``image_size`` px images."""
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(
        **tiny_vision_widths(),
        image_size=image_size,
        patch_size=patch_size,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        vision_use_head=False,
        **overrides,
    )


def gemma_text_config(tok, *, sliding_window: int, **overrides) -> dict[str, Any]:
    """The tiny Gemma 2 / Gemma 3 LM arguments: GQA 2:1, ``query_pre_attn_scalar = head_dim`` (as
    the real ones), one sliding-window layer then one global layer, tied embeddings, the
    ``<pad>`` / ``<bos>`` / ``<eos>`` ids of ``tok``; ``overrides`` add the model's own."""
    head_dim = TINY["text_hidden"] // TINY["text_heads"]
    return dict(
        **tiny_text_widths(tok),
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,  # real: 256 = head_dim
        hidden_activation="gelu_pytorch_tanh",
        rms_norm_eps=1e-6,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=tok.convert_tokens_to_ids("<pad>"),
        bos_token_id=tok.convert_tokens_to_ids("<bos>"),
        eos_token_id=tok.convert_tokens_to_ids("<eos>"),
        tie_word_embeddings=True,
        **overrides,
    )


def mistral_text_config(tok, **overrides) -> dict[str, Any]:
    """The tiny Mistral LM arguments: GQA 2:1, RMSNorm eps 1e-5, no sliding window, untied head,
    the ``<s>`` / ``</s>`` / ``<pad>`` ids of ``tok``; ``overrides`` add the model's own."""
    return dict(
        **tiny_text_widths(tok),
        rms_norm_eps=1e-5,
        sliding_window=None,
        tie_word_embeddings=False,
        bos_token_id=tok.convert_tokens_to_ids("<s>"),
        eos_token_id=tok.convert_tokens_to_ids("</s>"),
        pad_token_id=tok.convert_tokens_to_ids("<pad>"),
        **overrides,
    )


def mistral_tokenizer(special_tokens: Sequence[tuple[str, bool]], *, chat_template: str, model_max_length: int):
    """A byte-level Mistral-style tokenizer over ``special_tokens``: ``<s>`` prepended to every
    sequence, unk ``<unk>``, eos ``</s>``, pad ``<pad>``."""
    return byte_level_tokenizer(
        special_tokens,
        chat_template=chat_template,
        bos="<s>",
        unk_token="<unk>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=model_max_length,
    )


def mrope_section(half: int) -> list[int]:
    """A (temporal, height, width) M-RoPE split of ``half`` rotary frequencies in the real
    Qwen2-VL proportions (real: [16, 24, 24] of 64)."""
    t = half // 4
    return [t, (half - t) // 2, half - t - (half - t) // 2]


def qwen2_text_config(tok, **overrides) -> dict[str, Any]:
    """The tiny Qwen2-style LM (GQA 2:1, silu, tied embeddings, ``<|endoftext|>`` / ``<|im_end|>``);
    ``overrides`` replace or add arguments."""
    base = dict(
        **tiny_text_widths(tok),
        hidden_act="silu",
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
    )
    return {**base, **overrides}


def qwen_vl_token_ids(tok, *, qwen2: bool = True) -> dict[str, int]:
    """The Qwen-VL configs' image / video / vision-marker token ids in ``tok``; with ``qwen2``
    also ``vision_token_id`` and the BOS / EOS ids, which the Qwen2(.5)-VL configs carry and
    Qwen3-VL's does not."""
    ids = dict(
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    if qwen2:
        ids.update(
            vision_token_id=tok.convert_tokens_to_ids("<|vision_pad|>"),
            bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
            eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        )
    return ids


def qwen2_image_processor(s: Mapping[str, Any], *, image_mean, image_std):
    """The slow ``Qwen2VLImageProcessor`` (bicubic) with the pixel bounds, patch, temporal patch
    and merge sizes of ``s``."""
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(
        **rescale_settings(),
        image_mean=image_mean,
        image_std=image_std,
        min_pixels=s["min_pixels"],
        max_pixels=s["max_pixels"],
        patch_size=s["patch_size"],
        temporal_patch_size=s["temporal_patch_size"],
        merge_size=s["merge_size"],
    )
