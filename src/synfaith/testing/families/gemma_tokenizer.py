"""The byte-level twin of the Gemma tokenizers (Gemma 3 and PaliGemma 2), shared by both recipes.

Real Gemma vocabularies are SentencePiece models of 256k pieces whose first ids are the control
tokens ``<pad>=0 <eos>=1 <bos>=2 <unk>=3 <mask>=4 [multimodal]=5``, then the turn markers
(``<start_of_turn>`` / ``<end_of_turn>``: 105/106 in Gemma 3, 106/107 in Gemma 2); Gemma 3 adds
``<start_of_image>=255999 <end_of_image>=256000 <image_soft_token>=262144`` and PaliGemma 2 adds
``<loc0000>…<loc1023>`` (256000…), ``<seg000>…<seg127>`` and ``<image>=257152``. The twin keeps the
256 bytes at ids 0–255 (:func:`~synfaith.testing.twin_recipe.byte_level_core`) and gives these
tokens ids 256, 257, … in the same relative order. ``GemmaTokenizerFast`` prepends ``<bos>`` to every
sequence, as the real one does (PaliGemma's processor switches that off and writes ``<bos>``
itself).
"""

from __future__ import annotations

__all__ = ["GEMMA_CONTROL_TOKENS", "GEMMA3_CHAT_TEMPLATE", "gemma_tokenizer", "paligemma_extra_tokens"]

# (token, special?) in the real id order
GEMMA_CONTROL_TOKENS: list[tuple[str, bool]] = [
    ("<pad>", True),  # 0
    ("<eos>", True),  # 1
    ("<bos>", True),  # 2
    ("<unk>", True),  # 3
    ("<mask>", True),  # 4
    ("[multimodal]", True),  # 5
    ("<start_of_turn>", True),  # Gemma 3: 105, Gemma 2: 106
    ("<end_of_turn>", True),  # Gemma 3: 106, Gemma 2: 107
]

# google/gemma-3-4b-it chat_template.json (the system turn is folded into the first user turn)
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n"
)


def paligemma_extra_tokens() -> list[tuple[str, bool]]:
    """PaliGemma's 1024 location and 128 segmentation tokens (plain added tokens, as the real ones)."""
    return [(f"<loc{i:0>4}>", False) for i in range(1024)] + [(f"<seg{i:0>3}>", False) for i in range(128)]


def gemma_tokenizer(extra_tokens: list[tuple[str, bool]], *, chat_template: str | None, **kwargs):
    """A byte-level ``GemmaTokenizerFast``: the Gemma control tokens, then ``extra_tokens``.

    Args:
        extra_tokens: the family's own tokens, ``(token, special?)`` in real id order.
        kwargs: further tokenizer arguments (``extra_special_tokens``, ``model_max_length``, …).
    """
    from transformers import GemmaTokenizerFast

    from synfaith.testing.twin_recipe import byte_level_core

    core = byte_level_core(GEMMA_CONTROL_TOKENS + list(extra_tokens), split="bytes")
    kwargs.setdefault("model_input_names", ["input_ids", "attention_mask"])
    return GemmaTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        add_bos_token=True,  # GemmaTokenizerFast writes the <bos>-prepending post-processor
        add_eos_token=False,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        chat_template=chat_template,
        **kwargs,
    )
