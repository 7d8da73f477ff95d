"""Tiny twin of ``HuggingFaceM4/Idefics3-8B-Llama3`` (``Idefics3ForConditionalGeneration``).

SigLIP-style vision tower on tiles of S px (real 364, patch 14 → 26×26 patches), pixel shuffle
by 2 into 13×13 = 169 tokens per tile, Llama-3 LM. The twin keeps patch 14 and the shuffle
factor 2 and shrinks the tile to 56 px (4×4 patches → 2×2 = 4 tokens per tile, 28 px cells as
the real ones: at the default cap of 2×2 tiles, 16 units, few enough for the kit's budgets), with the real image-processor settings scaled to it (longest edge 4·S, LANCZOS,
mean/std 0.5). The SmolVLM twin (:mod:`synfaith.testing.families.smolvlm`) reuses the builders.
"""

from __future__ import annotations

from typing import Any

from synfaith.testing.families._common import rescale_settings, tiny_text_widths, tiny_vision_widths
from synfaith.testing.twin_recipe import TINY, TwinRecipe, byte_level_tokenizer

SPEC: dict[str, Any] = {
    # real: tiles 364 px, patch 14, scale_factor 2 -> 13x13 = 169 tokens per tile, longest edge 4*364
    "tile_size": 56,
    "patch_size": 14,
    "scale_factor": 2,
    "image_seq_len": 4,
    "longest_edge": 4 * 56,
}

# HuggingFaceM4/Idefics3-8B-Llama3: the Llama-3 specials <|begin_of_text|>=128000 … <|eot_id|>=128009
# (the 246 further <|reserved_special_token_k|> are left out), then the processor's tokens
# <fake_token_around_image>=128256, <image>=128257, <end_of_utterance>=128258. <global-img> and
# <row_i_col_j> are no tokens of the real vocabulary: they are tokenised as text.
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|begin_of_text|>", True),
    ("<|end_of_text|>", True),
    ("<|reserved_special_token_0|>", True),  # the pad token (config pad_token_id 128002)
    ("<|reserved_special_token_1|>", True),
    ("<|reserved_special_token_2|>", True),
    ("<|reserved_special_token_3|>", True),
    ("<|start_header_id|>", True),
    ("<|end_header_id|>", True),
    ("<|reserved_special_token_4|>", True),
    ("<|eot_id|>", True),
    ("<fake_token_around_image>", True),
    ("<image>", True),
    ("<end_of_utterance>", True),
]

# chat_template.json of HuggingFaceM4/Idefics3-8B-Llama3
CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

IDEFICS_MEAN = [0.5, 0.5, 0.5]
IDEFICS_STD = [0.5, 0.5, 0.5]


def tokenizer():
    """Byte-level Llama-3-style tokenizer: prepends <|begin_of_text|> (so the template's own one doubles it, as the real one)."""
    return byte_level_tokenizer(
        SPECIAL_TOKENS,
        chat_template=CHAT_TEMPLATE,
        bos="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|reserved_special_token_0|>",
        additional_special_tokens=["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
        model_max_length=131072,
    )


def vision_config(spec: dict[str, Any], **overrides) -> dict[str, Any]:
    """The tiny SigLIP-style vision tower on tiles of ``spec["tile_size"]`` px."""
    return dict(
        **tiny_vision_widths(),
        num_channels=3,
        image_size=spec["tile_size"],
        patch_size=spec["patch_size"],
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        **overrides,
    )


def text_config(tok, *, bos: str, eos: str, pad: str, kv_groups: int, **overrides) -> dict[str, Any]:
    """The tiny Llama LM over ``tok``, ``kv_groups`` query heads per key/value head (as the real LM)."""
    return dict(
        model_type="llama",
        **tiny_text_widths(tok, kv_heads=TINY["text_heads"] // kv_groups),
        hidden_act="silu",
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tok.convert_tokens_to_ids(bos),
        eos_token_id=tok.convert_tokens_to_ids(eos),
        pad_token_id=tok.convert_tokens_to_ids(pad),
        **overrides,
    )


def config(tok):
    """The tiny ``Idefics3Config``."""
    from transformers import Idefics3Config

    pad = "<|reserved_special_token_0|>"  # Llama 3.1 8B: 32 query heads share 8 key/value heads (kv_groups 4)
    return Idefics3Config(
        architectures=["Idefics3ForConditionalGeneration"],
        vision_config=vision_config(SPEC),
        text_config=text_config(
            tok, bos="<|begin_of_text|>", eos="<|end_of_text|>", pad=pad, kv_groups=4, max_position_embeddings=131072, rope_theta=500000.0
        ),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=SPEC["scale_factor"],
        pad_token_id=tok.convert_tokens_to_ids(pad),
        tie_word_embeddings=False,
    )


def image_processor_settings(s: dict[str, Any]) -> dict[str, Any]:
    """The real preprocessor_config.json settings with sizes from ``s``."""
    return dict(
        **rescale_settings(resample=1),  # LANCZOS
        size={"longest_edge": s["longest_edge"]},
        do_image_splitting=True,
        max_image_size={"longest_edge": s["tile_size"]},
        image_mean=IDEFICS_MEAN,
        image_std=IDEFICS_STD,
        do_pad=True,
    )


def processor(tok, spec: dict[str, Any] | None = None):
    """The image-only Idefics3 processor over ``tok`` (sizes of ``spec``, default :data:`SPEC`)."""
    from transformers import Idefics3ImageProcessor

    from synfaith.models.idefics3 import ImageOnlyIdefics3Processor

    return image_only_processor(ImageOnlyIdefics3Processor, Idefics3ImageProcessor, tok, spec or SPEC, CHAT_TEMPLATE)


def image_only_processor(processor_class, image_processor_class, tok, s: dict[str, Any], chat_template: str):
    """``processor_class`` over ``tok`` and an ``image_processor_class`` with the settings of
    :func:`image_processor_settings` at the sizes of ``s`` (shared with SmolVLM)."""
    return processor_class(
        image_processor=image_processor_class(**image_processor_settings(s)),
        tokenizer=tok,
        image_seq_len=s["image_seq_len"],
        chat_template=chat_template,
    )


RECIPE = TwinRecipe(
    arch="idefics3",
    model_class="Idefics3ForConditionalGeneration",
    twin_of="HuggingFaceM4/Idefics3-8B-Llama3",
    tokenizer=tokenizer,
    config=config,
    processor=processor,
    extra_eos=("<end_of_utterance>",),  # the chat turns end with <end_of_utterance>
    notes=(
        "tiles 56 px instead of 364 (patch 14 and pixel-shuffle 2 kept: 2x2 = 4 tokens per tile instead of 13x13 = 169, "
        "28 px cells as the real ones; 16 units at the default 2x2 tiles), longest edge 4*56 and max_image_size 56 scaled alike (LANCZOS, mean/std 0.5 kept); "
        "byte-level vocabulary with the Llama-3 specials up to <|eot_id|> (the other 246 reserved tokens left out) and "
        "the real <fake_token_around_image>/<image>/<end_of_utterance>; <global-img> and <row_i_col_j> stay text as in the "
        "real tokenizer; real chat template (its <|begin_of_text|> plus the tokenizer's BOS, as the real checkpoint); "
        "LM rope_theta 500000 and 131072 positions as Llama 3.1, llama3 rope scaling left out"
    ),
    spec=SPEC,
)
