"""Tokenizers of the tiny twins: byte-level BPE plus the real checkpoints' special tokens.

Used by :func:`synfaith.testing.twins.build_twin`. The tokenizer is a byte-level BPE (ids
0–255 are the bytes, no merges) followed by every special / added token of the real
checkpoint, in the real order (:data:`SPECIAL_TOKENS`), wrapped in
``PreTrainedTokenizerFast`` (LLaVA) or ``Qwen2TokenizerFast`` (Qwen2.5-VL, InternVL) with the
real model's chat template (:data:`CHAT_TEMPLATES`).
"""

from __future__ import annotations

__all__ = ["CHAT_TEMPLATES", "SPECIAL_TOKENS", "build_tokenizer"]

# --------------------------------------------------------------------------------------
# Special tokens. Each list is (token, special?) in the real checkpoint's id order; the tiny
# tokenizer gives them ids 256, 257, ... (real ids in the comments).
# --------------------------------------------------------------------------------------
_QWEN_ADDED: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),  # 151643
    ("<|im_start|>", True),  # 151644
    ("<|im_end|>", True),  # 151645
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),  # 151652
    ("<|vision_end|>", True),  # 151653
    ("<|vision_pad|>", True),  # 151654
    ("<|image_pad|>", True),  # 151655
    ("<|video_pad|>", True),  # 151656
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),  # 151664
]

SPECIAL_TOKENS: dict[str, list[tuple[str, bool]]] = {
    # llava-hf/llava-1.5-7b-hf: <unk>=0 <s>=1 </s>=2 <image>=32000 <pad>=32001
    "llava": [("<unk>", True), ("<s>", True), ("</s>", True), ("<image>", True), ("<pad>", True)],
    # Qwen/Qwen2.5-VL-3B-Instruct: 151643..151664
    "qwen2_5_vl": list(_QWEN_ADDED),
    # OpenGVLab/InternVL3-1B-hf: the Qwen2.5-VL tokenizer plus <img>=151665 </img>=151666
    # <IMG_CONTEXT>=151667 <quad> </quad> <ref> </ref> <box> </box> (151668..151673); <video>
    # is the processor's video placeholder (tokenizer.video_token).
    "internvl": list(_QWEN_ADDED)
    + [
        ("<img>", True),
        ("</img>", True),
        ("<IMG_CONTEXT>", True),
        ("<quad>", True),
        ("</quad>", True),
        ("<ref>", True),
        ("</ref>", True),
        ("<box>", True),
        ("</box>", True),
        ("<video>", True),
    ],
}

# --------------------------------------------------------------------------------------
# Chat templates of the real checkpoints.
# --------------------------------------------------------------------------------------
_LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}"
    "{% endfor %}"
    "{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}"
    "{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_QWEN2_5_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_INTERNVL_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

CHAT_TEMPLATES: dict[str, str] = {
    "llava": _LLAVA_TEMPLATE,
    "qwen2_5_vl": _QWEN2_5_VL_TEMPLATE,
    "internvl": _INTERNVL_TEMPLATE,
}

# --------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------
def build_tokenizer(arch: str):
    """The tiny byte-level tokenizer of ``arch`` with the real special tokens and chat template."""
    from synfaith.testing.twin_recipe import byte_level_tokenizer, qwen2_tokenizer

    if arch == "llava":  # Llama prepends <s> to every sequence
        return byte_level_tokenizer(
            SPECIAL_TOKENS[arch], chat_template=CHAT_TEMPLATES[arch], bos="<s>", unk_token="<unk>", eos_token="</s>", pad_token="<pad>", model_max_length=4096
        )
    if arch == "qwen2_5_vl":
        return qwen2_tokenizer(SPECIAL_TOKENS[arch], chat_template=CHAT_TEMPLATES[arch], model_max_length=131072)
    # InternVL-hf: the Qwen2.5-VL tokenizer + InternVL tokens and named image tokens.
    specials = [t for t, special in SPECIAL_TOKENS["qwen2_5_vl"] if special and t != "<|endoftext|>"]
    internvl_extra = [t for t, _ in SPECIAL_TOKENS["internvl"][len(_QWEN_ADDED) :] if t != "<video>"]
    return qwen2_tokenizer(
        SPECIAL_TOKENS[arch],
        chat_template=CHAT_TEMPLATES[arch],
        model_max_length=8192,
        additional_special_tokens=specials + internvl_extra,
        extra_special_tokens={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
