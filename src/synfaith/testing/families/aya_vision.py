"""Tiny twin of Aya Vision 8B (``CohereLabs/aya-vision-8b``, ``aya_vision``).

``AyaVisionForConditionalGeneration``: a SigLIP vision tower (no pooling head), the 2×2 pixel
shuffle + SwiGLU projector, and a Cohere2 LM (parallel blocks, sliding-window and full layers,
RoPE on the sliding ones); the slow ``GotOcr2ImageProcessor`` (tiles + thumbnail) behind
``AyaVisionProcessor``, which writes ``<|START_OF_IMG|>``, ``TILE_i`` + patches per tile,
``TILE_GLOBAL`` + patches for the thumbnail and ``<|END_OF_IMG|>``.
"""

from __future__ import annotations

from synfaith.testing.families._common import rescale_settings, siglip_vision_config, tiny_text_widths
from synfaith.testing.twin_recipe import TINY, TwinRecipe, byte_level_tokenizer

TWIN_OF = "CohereLabs/aya-vision-8b"

SPEC = {
    "tile_size": 112,  # real 364 (26×26 SigLIP patches → 13×13 = 169 tokens); twin 8×8 → 4×4 = 16
    "patch_size": 14,  # real 14
    "downsample_factor": 2,  # real 2 (pixel shuffle)
    "min_patches": 1,  # real 1
    "max_patches": 12,  # real 12
}

# Cohere's special tokens in real id order: <PAD>=0 … <EOP_TOKEN>=7, the turn tokens from
# 255000 (<|START_OF_TURN_TOKEN|>, <|END_OF_TURN_TOKEN|>=255001, …), the image tokens
# <|START_OF_IMG|>=255033 <|END_OF_IMG|>=255034 <|IMG_LINE_BREAK|>=255035 <|IMG_PATCH|>=255036;
# TILE / TILE_GLOBAL are the processor's tile labels (plain added tokens).
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<PAD>", True),  # 0
    ("<UNK>", True),  # 1
    ("<CLS>", True),  # 2
    ("<SEP>", True),  # 3
    ("<MASK_TOKEN>", True),  # 4
    ("<BOS_TOKEN>", True),  # 5
    ("<EOS_TOKEN>", True),  # 6
    ("<EOP_TOKEN>", True),  # 7
    ("<|START_OF_TURN_TOKEN|>", True),  # 255000
    ("<|END_OF_TURN_TOKEN|>", True),  # 255001
    ("<|YES_TOKEN|>", True),
    ("<|NO_TOKEN|>", True),
    ("<|GOOD_TOKEN|>", True),
    ("<|BAD_TOKEN|>", True),
    ("<|USER_TOKEN|>", True),
    ("<|CHATBOT_TOKEN|>", True),
    ("<|SYSTEM_TOKEN|>", True),
    ("<|START_RESPONSE|>", True),
    ("<|END_RESPONSE|>", True),
    ("<|START_OF_IMG|>", True),  # 255033
    ("<|END_OF_IMG|>", True),  # 255034
    ("<|IMG_LINE_BREAK|>", True),  # 255035
    ("<|IMG_PATCH|>", True),  # 255036 = image_token_index
    ("TILE", False),
    ("TILE_GLOBAL", False),
]

# The checkpoint's default preamble (its processor's STD_PREAMBLE), verbatim: ~430 BPE tokens
# in the real tokenizer, but ~2000 in the twin's byte-level one.
REAL_PREAMBLE = (
    "\n# System Preamble\nYou are in contextual safety mode. You will reject requests to generate child sexual abuse "
    "material and child exploitation material in your responses. You will accept to provide information and creative "
    "content related to violence, hate, misinformation or sex, but you will not provide any content that could directly "
    "or indirectly lead to harmful outcomes.\n\nYour information cutoff date is June 2024.\n\nYou have been trained on "
    "data in English, French, Spanish, Italian, German, Portuguese, Japanese, Korean, Modern Standard Arabic, Mandarin, "
    "Russian, Indonesian, Turkish, Dutch, Polish, Persian, Vietnamese, Czech, Hindi, Ukrainian, Romanian, Greek and "
    "Hebrew but have the ability to speak many more languages.\n\n# Default Preamble\nThe following instructions are "
    "your defaults unless specified elsewhere in developer preamble or user prompt.\n- Your name is Aya.\n- You are a "
    "large language model built by Cohere.\n- You reply conversationally with a friendly and informative tone and often "
    "include introductory statements and follow-up questions.\n- If the input is ambiguous, ask clarifying follow-up "
    "questions.\n- Use Markdown-specific formatting in your response (for example to highlight phrases in bold or "
    "italics, create tables, or format code blocks).\n- Use LaTeX to generate mathematical notation for complex "
    "equations.\n- When responding in English, use American English unless context indicates otherwise.\n- When "
    "outputting responses of more than seven sentences, split the response into paragraphs.\n- Prefer the active "
    "voice.\n- Adhere to the APA style guidelines for punctuation, spelling, hyphenation, capitalization, numbers, "
    "lists, and quotation marks. Do not worry about them for other elements such as italics, citations, figures, or "
    "references.\n- Use gender-neutral pronouns for unspecified persons.\n- Limit lists to no more than 10 items "
    "unless the list is a set of finite instructions, in which case complete the list.\n- Use the third person when "
    "asked to write a summary.\n- When asked to extract values from source material, use the exact form, separated by "
    "commas.\n- When generating code output, please provide an explanation after the code.\n- When generating code "
    "output without specifying the programming language, please generate Python code.\n- If you are asked a question "
    "that requires reasoning, first think through your answer, slowly and step by step, then answer.\n"
)
# The twin's default preamble: the real one's first section, ~430 bytes = byte-level tokens, so the
# preamble keeps about its real token count next to the image tokens (and the twin stays fast).
PREAMBLE = REAL_PREAMBLE[: REAL_PREAMBLE.index("\nYou have been trained")]

# Cohere's turn format (chat-command-turn_tokens-v3) as a Hugging Face template: the preamble as
# the system turn, ``<image>`` where an image block sits, the chatbot turn opened at the end.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set preamble = messages[0]['content'] if messages[0]['content'] is string else messages[0]['content'][0]['text'] %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set preamble = default_preamble %}{% set loop_messages = messages %}{% endif %}"
    "{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + preamble + '<|END_OF_TURN_TOKEN|>' }}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>' }}"
    "{% else %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>' }}{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|END_RESPONSE|>' }}{% endif %}"
    "{{ '<|END_OF_TURN_TOKEN|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
)
# the preamble written into the template as a Jinja string literal
CHAT_TEMPLATE = "{% set default_preamble = " + repr(PREAMBLE) + " %}" + CHAT_TEMPLATE


def build_tokenizer():
    """Byte-level ``CohereTokenizerFast`` with Cohere's special tokens; ``<BOS_TOKEN>`` prepended (as the real one)."""
    from transformers import CohereTokenizerFast

    return byte_level_tokenizer(
        SPECIAL_TOKENS,
        chat_template=CHAT_TEMPLATE,
        tokenizer_class=CohereTokenizerFast,
        bos_token="<BOS_TOKEN>",
        eos_token="<|END_OF_TURN_TOKEN|>",
        unk_token="<UNK>",
        pad_token="<PAD>",
        add_bos_token=True,
        add_eos_token=False,
        model_max_length=8192,
    )


def build_config(tok):
    """The tiny ``AyaVisionConfig``: real structure (GQA 4:1, sliding + full layers, SwiGLU projector)."""
    from transformers import AyaVisionConfig, Cohere2Config

    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<PAD>", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<|IMG_PATCH|>")}
    vision = siglip_vision_config(SPEC["tile_size"], SPEC["patch_size"])  # no pooling head, as the real one
    text = Cohere2Config(
        **tiny_text_widths(tok, kv_heads=TINY["text_heads"] // 4),  # real 32 heads / 8 KV heads
        max_position_embeddings=8192,
        layer_norm_eps=1e-5,
        rope_theta=50000.0,  # real
        sliding_window=4096,  # real
        layer_types=["sliding_attention", "full_attention"],  # real: 3 sliding then 1 full, ×8
        logit_scale=0.25,
        # real: tied. Untied here: a random tied LM echoes the prompt's last token, and Aya's
        # template ends with <|CHATBOT_TOKEN|> (special), so the twin's greedy answer would decode to ""
        tie_word_embeddings=False,
        pad_token_id=ids["<PAD>"],
        bos_token_id=ids["<BOS_TOKEN>"],
        eos_token_id=ids["<|END_OF_TURN_TOKEN|>"],
    )
    return AyaVisionConfig(
        architectures=["AyaVisionForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        downsample_factor=SPEC["downsample_factor"],
        adapter_layer_norm_eps=1e-6,
        image_token_index=ids["<|IMG_PATCH|>"],
        alignment_intermediate_size=7 * TINY["text_hidden"],  # real 28672 = 7 × 4096
        tie_word_embeddings=False,
    )


def build_processor(tok, spec=None):
    """``AyaVisionProcessor`` (image-only subclass, slow GotOcr2 image processor) with the twin's sizes."""
    from transformers import GotOcr2ImageProcessor

    from synfaith.models.aya_vision import ImageOnlyAyaVisionProcessor

    s = spec or SPEC
    image_processor = GotOcr2ImageProcessor(
        **rescale_settings(),
        size={"height": s["tile_size"], "width": s["tile_size"]},
        crop_to_patches=False,  # as the real file; the processor turns tiling on by default
        min_patches=s["min_patches"],
        max_patches=s["max_patches"],
        image_mean=[0.5, 0.5, 0.5],  # real
        image_std=[0.5, 0.5, 0.5],
    )
    return ImageOnlyAyaVisionProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=s["patch_size"],
        img_size=s["tile_size"],
        downsample_factor=s["downsample_factor"],
        chat_template=CHAT_TEMPLATE,
    )


RECIPE = TwinRecipe(
    arch="aya_vision",
    model_class="AyaVisionForConditionalGeneration",
    twin_of=TWIN_OF,
    tokenizer=build_tokenizer,
    config=build_config,
    processor=build_processor,
    notes=(
        "Widths scaled to TINY (SigLIP 32 wide, 2 layers; Cohere2 64 wide, 2 layers, 4 heads with 1 KV head; real "
        "SigLIP 1152×27, Cohere2 4096×32, 32/8 heads). Tiles scaled 364 → 112 px (26×26 → 8×8 SigLIP patches, "
        "169 → 16 tokens per tile), keeping patch 14, pixel shuffle 2, min/max tiles 1/12, mean/std 0.5, bicubic. "
        "Cohere2 keeps the real sliding window (4096, longer than any twin prompt, as for real prompts at 2 tiles) "
        "with one sliding and one full layer (real: three sliding then one full), rope_theta 50000; embeddings untied (real: tied) because a random tied LM echoes the template's last token, <|CHATBOT_TOKEN|>, which decodes to an empty answer; "
        "SwiGLU projector width 7 × text hidden (real 28672 = 7 × 4096). Tokenizer: byte-level CohereTokenizerFast "
        "with Cohere's control, turn and image tokens in real order at 256+ (turn tokens the real ids 255000+ skip "
        "some unused ones), TILE / TILE_GLOBAL added, <BOS_TOKEN> prepended. Chat template: Cohere's turn format "
        "(chat-command-turn_tokens-v3) with the checkpoint's default preamble cut to its first section (≈ 430 byte tokens, about the full preamble's real BPE token count; the full text is REAL_PREAMBLE), written as a Hugging Face template from "
        "the checkpoint's original processor code (its chat_template.json could not be read offline)."
    ),
    spec=SPEC,
)
