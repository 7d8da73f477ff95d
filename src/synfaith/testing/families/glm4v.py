"""Tiny random-weight twin of ``THUDM/GLM-4.1V-9B-Thinking`` (``Glm4vForConditionalGeneration``).

Same token layout as the real checkpoint: GLM-4's added tokens in their real order
(``<|endoftext|>`` 151329, ``[MASK]``, ``[gMASK]``, ``[sMASK]``, ``<sop>``, ``<eop>``, the role
tokens, ``<|begin_of_image|>`` 151339 … ``<|image|>`` 151343, ``<|video|>`` 151344, …; here from
id 256 on), the real chat template (``[gMASK]<sop>``, ``<|user|>\\n``, the image as
``<|begin_of_image|><|image|><|end_of_image|>`` before the question, ``<|assistant|>\\n``), and the
slow ``Glm4vImageProcessor`` with the real patch 14, temporal patch 2, 2×2 merge and CLIP
normalisation; only the pixel bounds are scaled down (see :data:`SPEC`).
"""

from __future__ import annotations

from typing import Any

from synfaith.testing.families._common import mrope_section, rescale_settings, tiny_text_widths
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe, byte_level_core

__all__ = ["CHAT_TEMPLATE", "RECIPE", "SPEC", "SPECIAL_TOKENS", "build_config", "build_processor", "build_tokenizer"]

SPEC: dict[str, Any] = {
    # real preprocessor_config: size {"shortest_edge": 12544, "longest_edge": 9633792}; patch 14,
    # merge 2, temporal 2. Glm4vImageProcessor counts both temporal copies of a still image
    # against the bounds, so the per-image area bounds are half of these numbers.
    "patch_size": 14,
    "merge_size": 2,
    "temporal_patch_size": 2,
    # raised above the real 12544: a 64 px scene becomes 112², 4×4 merged tokens instead of 3×3 (see notes)
    "shortest_edge": 2 * 112 * 112,
    "longest_edge": 2 * 224 * 224,  # an image of <= 224² px: <= 8×8 = 64 merged tokens
    "vision_image_size": 112,  # real 336: the learned position table (interpolated per image) is 8×8, real 24×24
}

# (token, special?) in the real id order: 151329..151344 are fixed by the real config
# (pad / eos ids, image_start 151339, image_end 151340, video_start 151341, video_end 151342,
# image 151343, video 151344); the reasoning and box tokens follow them in the real
# vocabulary (their exact ids play no part in any layout here).
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),  # 151329: pad, eos
    ("[MASK]", True),
    ("[gMASK]", True),  # 151331
    ("[sMASK]", True),
    ("<sop>", True),  # 151333
    ("<eop>", True),
    ("<|system|>", True),
    ("<|user|>", True),  # 151336: eos
    ("<|assistant|>", True),
    ("<|observation|>", True),  # 151338: eos
    ("<|begin_of_image|>", True),  # 151339
    ("<|end_of_image|>", True),
    ("<|begin_of_video|>", True),
    ("<|end_of_video|>", True),
    ("<|image|>", True),  # 151343
    ("<|video|>", True),  # 151344
    ("<|begin_of_transcription|>", True),
    ("<|end_of_transcription|>", True),
    ("<|code_prefix|>", True),
    ("<|code_middle|>", True),
    ("<|code_suffix|>", True),
    ("<think>", True),
    ("</think>", True),
    ("<|begin_of_box|>", True),
    ("<|end_of_box|>", True),
]

# GLM-4's pre-tokenizer split (cl100k-style: digits in runs of up to three).
GLM_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# chat_template.jinja of THUDM/GLM-4.1V-9B-Thinking
CHAT_TEMPLATE = (
    "[gMASK]<sop>\n"
    "{%- for msg in messages %}\n"
    "    {%- if msg.role == 'system' %}\n"
    "<|system|>\n"
    "{{ msg.content }}\n"
    "    {%- elif msg.role == 'user' %}\n"
    "<|user|>{{ '\\n' }}\n"
    "\n"
    "        {%- if msg.content is string %}\n"
    "{{ msg.content }}\n"
    "        {%- else %}\n"
    "            {%- for item in msg.content %}\n"
    "                {%- if item.type == 'video' or 'video' in item %}\n"
    "<|begin_of_video|><|video|><|end_of_video|>\n"
    "                {%- elif item.type == 'image' or 'image' in item %}\n"
    "<|begin_of_image|><|image|><|end_of_image|>\n"
    "                {%- elif item.type == 'text' %}\n"
    "{{ item.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "    {%- elif msg.role == 'assistant' %}\n"
    "        {%- if msg.metadata %}\n"
    "<|assistant|>{{ msg.metadata }}\n"
    "{{ msg.content }}\n"
    "        {%- else %}\n"
    "<|assistant|>\n"
    "{{ msg.content }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer():
    """Byte-level ``PreTrainedTokenizerFast`` with GLM-4.1V's added tokens, split and chat template."""
    from tokenizers import Regex, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = byte_level_core(SPECIAL_TOKENS, split="qwen")
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GLM_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        chat_template=CHAT_TEMPLATE,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t, special in SPECIAL_TOKENS if special and t != "<|endoftext|>"],
        model_input_names=["input_ids", "attention_mask"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=65536,
    )


def build_config(tok):
    """Tiny ``Glm4vConfig``: real special-token ids (by name), partial M-RoPE, the real vision layout."""
    from transformers import Glm4vConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t, _ in SPECIAL_TOKENS}
    head_dim = TINY["text_hidden"] // TINY["text_heads"]
    half = head_dim // 4  # partial_rotary_factor 0.5: rotary half-dim = head_dim / 4 (real 128 -> 32, [8, 12, 12])
    mrope = mrope_section(half)
    eos = [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]
    text = dict(
        **tiny_text_widths(tok),  # real: 32 heads, 2 KV heads
        hidden_act="silu",
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        partial_rotary_factor=0.5,
        max_position_embeddings=65536,
        rope_scaling={"type": "default", "mrope_section": mrope},
        tie_word_embeddings=False,
        attention_bias=True,
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=eos,
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
    )
    vision = dict(
        depth=TINY["vision_layers"],
        hidden_size=TINY["vision_hidden"],
        hidden_act="silu",
        attention_bias=False,
        num_heads=TINY["vision_heads"],
        in_channels=3,
        image_size=SPEC["vision_image_size"],
        patch_size=SPEC["patch_size"],
        rms_norm_eps=1e-5,
        spatial_merge_size=SPEC["merge_size"],
        temporal_patch_size=SPEC["temporal_patch_size"],
        out_hidden_size=TINY["text_hidden"],  # real: the LM's 4096
        intermediate_size=TINY["text_ffn"],  # real: 13696, the LM's FFN width
    )
    return Glm4vConfig(
        architectures=["Glm4vForConditionalGeneration"],
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=eos,
        tie_word_embeddings=False,
    )


def build_processor(tok, spec=None):
    """The image-only ``Glm4vProcessor`` (slow ``Glm4vImageProcessor``) over ``tok``."""
    from transformers import Glm4vImageProcessor

    from synfaith.models.glm4v import ImageOnlyGlm4vProcessor

    s = spec or SPEC
    ip = Glm4vImageProcessor(
        **rescale_settings(),  # bicubic
        size={"shortest_edge": s["shortest_edge"], "longest_edge": s["longest_edge"]},
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
        patch_size=s["patch_size"],
        temporal_patch_size=s["temporal_patch_size"],
        merge_size=s["merge_size"],
    )
    return ImageOnlyGlm4vProcessor(image_processor=ip, tokenizer=tok, chat_template=CHAT_TEMPLATE)


RECIPE = TwinRecipe(
    arch="glm4v",
    model_class="Glm4vForConditionalGeneration",
    twin_of="THUDM/GLM-4.1V-9B-Thinking",
    tokenizer=build_tokenizer,
    config=build_config,
    processor=build_processor,
    notes=(
        "Widths cut to synfaith.testing.twin_recipe.TINY (vision hidden 32, 2 blocks; LM hidden 64, 2 layers, "
        "4 heads / 2 KV heads; real: 1536-wide 24-block ViT, 4096-wide 40-layer GLM-4 LM with 32 / 2 heads). "
        "Partial rotary (factor 0.5) kept; mrope_section [1, 1, 2] over the tiny rotary half-dim 4 (real "
        "[8, 12, 12] over 32). The vision position table is 8×8 (image_size 112; real 24×24 at 336), "
        "bicubically interpolated per image as in the real model. Vocabulary: the 256 bytes, then GLM-4.1V's "
        "added tokens in their real order (ids 151329..151344 fixed by the real config; the transcription, code, reasoning and box "
        "tokens after them follow in their real order, their real ids unchecked offline), no BPE merges, padded to a multiple of 64 "
        "(real vocab 151552). The tokenizer adds no BOS: the chat template writes [gMASK]<sop> itself. "
        "Image processor: the real patch 14 / merge 2 / temporal 2 / CLIP mean-std / bicubic, with the size "
        "bounds 25088..100352 instead of 12544..9633792 (both count the two temporal copies of a still "
        "image, so a twin image is 112²..224² px: 4×4 to 8×8 merged tokens). The lower bound is above the real "
        "one on purpose: at the real bound a 64 px test scene is 3×3 tokens, and over so few near-identical "
        "tokens a random-weight model's ReLU'd maps (TAM, GradCAM) came out all zero (an all-equal "
        "attribution, which is an error); the adapter's default cap "
        "(max_pixels 313600 per image) is passed per call. Chat template: the real one; eos "
        "[<|endoftext|>, <|user|>, <|observation|>] as the real config."
    ),
    spec=SPEC,
)
