"""Tiny twin of ``HuggingFaceTB/SmolVLM2-2.2B-Instruct`` (``SmolVLMForConditionalGeneration``).

Real: SigLIP tiles of 384 px with patch 14 (27×27 patches, a 6 px margin unseen), pixel shuffle
by 3 into 9×9 = 81 tokens per tile, SmolLM2 LM. The twin keeps patch 14, the shuffle factor 3 and
the 6 px margin, with tiles of 90 px = 6·14 + 6 (2×2 = 4 tokens per tile, 42 px cells as the
real ones; 16 units at the default cap of 2×2 tiles), and the real image-processor settings scaled to them.
"""

from __future__ import annotations

from typing import Any

from synfaith.testing.families.idefics3 import image_only_processor, text_config, vision_config
from synfaith.testing.twin_recipe import TwinRecipe, byte_level_tokenizer

SPEC: dict[str, Any] = {
    # real: tiles 384 px, patch 14 (27 patches + 6 px), scale_factor 3 -> 9x9 = 81 tokens, longest edge 4*384
    "tile_size": 90,
    "patch_size": 14,
    "scale_factor": 3,
    "image_seq_len": 4,
    "longest_edge": 4 * 90,
}

# HuggingFaceTB/SmolVLM2-2.2B-Instruct: SmolLM2's <|endoftext|>=0 <|im_start|>=1 <|im_end|>=2 (its 14
# code-repository specials 3-16 left out), then <global-img>=49152, <row_1_col_1>…<row_6_col_6>=
# 49153-49188, <fake_token_around_image>=49189, <image>=49190 and <end_of_utterance>=49279 (the
# 88 unused added tokens between them left out).
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<global-img>", True),
    *((f"<row_{r}_col_{c}>", True) for r in range(1, 7) for c in range(1, 7)),
    ("<fake_token_around_image>", True),
    ("<image>", True),
    ("<end_of_utterance>", True),
]

# the chat template of SmolVLM2 (transformers' processing_smolvlm.DEFAULT_CHAT_TEMPLATE, which
# the checkpoint's chat_template.json matches for images)
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def tokenizer():
    """Byte-level SmolLM2-style tokenizer (no BOS prepended: the template starts with <|im_start|>)."""
    return byte_level_tokenizer(
        SPECIAL_TOKENS,
        chat_template=CHAT_TEMPLATE,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        additional_special_tokens=["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
        extra_special_tokens={
            "fake_image_token": "<fake_token_around_image>",
            "image_token": "<image>",
            "end_of_utterance_token": "<end_of_utterance>",
            "global_image_token": "<global-img>",
        },
        model_max_length=16384,
    )


def config(tok):
    """The tiny ``SmolVLMConfig``."""
    from transformers import SmolVLMConfig

    # SmolLM2-1.7B: 32 query heads, 32 key/value heads (kv_groups 1)
    text = text_config(
        tok, bos="<|im_start|>", eos="<end_of_utterance>", pad="<|im_end|>", kv_groups=1, max_position_embeddings=16384, rope_theta=273768.0
    )
    return SmolVLMConfig(
        architectures=["SmolVLMForConditionalGeneration"],
        vision_config=vision_config(SPEC, max_image_size={"longest_edge": SPEC["tile_size"]}),
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=SPEC["scale_factor"],
        pad_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        tie_word_embeddings=False,
    )


def processor(tok, spec: dict[str, Any] | None = None):
    """The image-only SmolVLM processor over ``tok`` (sizes of ``spec``, default :data:`SPEC`)."""
    from transformers import SmolVLMImageProcessor

    from synfaith.models.smolvlm import ImageOnlySmolVLMProcessor

    return image_only_processor(ImageOnlySmolVLMProcessor, SmolVLMImageProcessor, tok, spec or SPEC, CHAT_TEMPLATE)


RECIPE = TwinRecipe(
    arch="smolvlm",
    model_class="SmolVLMForConditionalGeneration",
    twin_of="HuggingFaceTB/SmolVLM2-2.2B-Instruct",
    tokenizer=tokenizer,
    config=config,
    processor=processor,
    extra_eos=("<|im_end|>",),
    notes=(
        "tiles 90 px = 6*14 + 6 instead of 384 = 27*14 + 6 (patch 14, pixel-shuffle 3 and the unseen 6 px margin kept: "
        "2x2 = 4 tokens per tile instead of 9x9 = 81, 42 px cells as the real ones; 16 units at the default 2x2 tiles), "
        "longest edge 4*90 and max_image_size 90 scaled alike (LANCZOS, mean/std 0.5 kept); byte-level vocabulary with SmolLM2's first three "
        "specials and the real image tokens in their order (<global-img>, 36 <row_i_col_j>, <fake_token_around_image>, "
        "<image>, <end_of_utterance>; the unused ones between left out); image-only processor (the stock one needs "
        "torchvision and num2words); LM rope_theta 273768 and 16384 positions"
    ),
    spec=SPEC,
)
