"""Tiny twin of ``google/gemma-3-4b-it`` (``Gemma3ForConditionalGeneration``).

Real layout: SigLIP-so400m at 896×896 px (``Gemma3ImageProcessor``: bilinear resize to the square,
no crop, mean = std = 0.5; pan-and-scan off by default), patch 14 → 64×64 patches, average-pooled
4×4 by the projector → 16×16 = 256 image tokens (one per 56 px cell), written by the processor as
``\\n\\n<start_of_image>`` + 256 × ``<image_soft_token>`` + ``<end_of_image>\\n\\n`` in place of the
chat template's ``<start_of_image>``. The LM is Gemma 3 (34 layers, 5 sliding-window layers of 1024
tokens per global layer, RMSNorm with (1 + w), embeddings scaled by √d, tied head).
"""

from __future__ import annotations

from synfaith.testing.families.gemma_tokenizer import GEMMA3_CHAT_TEMPLATE, gemma_tokenizer
from synfaith.testing.families._common import gemma_text_config, rescale_settings, siglip_vision_config
from synfaith.testing.twin_recipe import TwinRecipe

__all__ = ["RECIPE", "SPEC"]

SPEC = {
    # real: 896 px, patch 14 -> 64x64 patches, pooled 4x4 -> 16x16 = 256 tokens (56 px cells)
    "image_size": 224,
    "patch_size": 14,
    "pool": 4,
    "image_seq_length": 16,  # 4x4 pooled tokens, still one per 56 px cell
    # real 1024 = 4x the image tokens; the twin keeps the ratio (4 x 16), so unlike the real model's
    # its byte-level prompts (~75 tokens) outgrow the window and the sliding layers' masks and
    # caches are exercised (prefix sharing included)
    "sliding_window": 64,
}

_IMAGE_TOKENS = [("<start_of_image>", True), ("<end_of_image>", True), ("<image_soft_token>", True)]


def _tokenizer():
    return gemma_tokenizer(
        _IMAGE_TOKENS,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"},
        model_max_length=131072,
    )


def _config(tok):
    from transformers import Gemma3Config, Gemma3TextConfig

    s = SPEC
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<pad>", "<eos>", "<bos>", "<end_of_turn>", *(t for t, _ in _IMAGE_TOKENS))}
    # one sliding-window layer, one global (real: 5 sliding : 1 global)
    text = Gemma3TextConfig(
        **gemma_text_config(
            tok,
            sliding_window=s["sliding_window"],
            max_position_embeddings=131072,
            rope_theta=1_000_000.0,
            rope_local_base_freq=10_000.0,
            rope_scaling={"rope_type": "linear", "factor": 8.0},
        )
    )
    vision = siglip_vision_config(s["image_size"], s["patch_size"])
    return Gemma3Config(
        architectures=["Gemma3ForConditionalGeneration"],
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=s["image_seq_length"],
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],  # real: [1, 106]
        tie_word_embeddings=True,
    )


def _init_weights(model) -> None:
    """Draw the image projection, which ``Gemma3PreTrainedModel`` initialises to zeros (trained
    checkpoints overwrite it); zeros would make every image feature 0 and the image irrelevant."""
    import torch

    projector = model.model.multi_modal_projector
    with torch.no_grad():
        projector.mm_input_projection_weight.normal_(0.0, model.config.text_config.initializer_range)


def _processor(tok, spec=None):
    from transformers import Gemma3ImageProcessor

    from synfaith.models.gemma3 import ImageOnlyGemma3Processor

    s = spec or SPEC
    image_processor = Gemma3ImageProcessor(
        **rescale_settings(2, convert_rgb=None),  # bilinear, as the real preprocessor_config.json
        size={"height": s["image_size"], "width": s["image_size"]},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_pan_and_scan=None,
    )
    return ImageOnlyGemma3Processor(
        image_processor=image_processor, tokenizer=tok, chat_template=GEMMA3_CHAT_TEMPLATE, image_seq_length=s["image_seq_length"]
    )


RECIPE = TwinRecipe(
    arch="gemma3",
    model_class="Gemma3ForConditionalGeneration",
    twin_of="google/gemma-3-4b-it",
    tokenizer=_tokenizer,
    config=_config,
    processor=_processor,
    extra_eos=("<end_of_turn>",),  # real generation_config: eos [1, 106] = [<eos>, <end_of_turn>]
    spec=SPEC,
    init_weights=_init_weights,
    notes=(
        "224 px instead of 896 px with the real patch (14 px) and pooling (4x4): 16x16 patches pooled to "
        "4x4 = 16 image tokens, each a 56 px cell as in the real model (256 tokens there). Byte-level "
        "tokenizer with the real control, turn and image tokens in real order at ids 256+ and the real "
        "chat template. LM: 2 layers (one sliding-window, one global, real 5:1), window 64 (real 1024: both 4x "
        "the image tokens; the twin's byte-level prompts exceed it, real prompts do not), head_dim 16 with query_pre_attn_scalar = head_dim as "
        "real, linear RoPE scaling 8 on global layers as real. Vision: SigLIP, 2 layers, width 32. The image "
        "projection, zero-initialised by the class, is drawn from N(0, 0.02²)."
    ),
)
