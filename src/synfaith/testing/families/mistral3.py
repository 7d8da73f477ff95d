"""Tiny twin of Mistral Small 3.1 (``mistralai/Mistral-Small-3.1-24B-Instruct-2503``, ``mistral3``).

``Mistral3ForConditionalGeneration``: a Pixtral vision tower (patch 14, 2-D RoPE, images up to
1540 px), the patch merger folding 2×2 patches into one token, and a Mistral LM; the slow
``PixtralImageProcessor`` (longest-edge resize, sides rounded up to multiples of 28 px) behind
``PixtralProcessor``, which writes ``[IMG]`` × C + ``[IMG_BREAK]`` per row and ``[IMG_END]`` last.
"""

from __future__ import annotations

from synfaith.testing.families._common import mistral_text_config, mistral_tokenizer, rescale_settings, tiny_vision_widths
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe

TWIN_OF = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"

CLIP_MEAN, CLIP_STD = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

SPEC = {
    "patch_size": 14,  # real 14
    "spatial_merge_size": 2,  # real 2
    "longest_edge": 112,  # real 1540 (55 merged tokens a side); the twin's processor: 4 a side
    "vision_image_size": 1540,  # real 1540: the largest image the 2-D RoPE covers (110 patches a side)
}

# The tekken tokenizer's control tokens, ids 0..19 in the real vocabulary (then <SPECIAL_20> …
# <SPECIAL_999>, unused placeholders, and the 256 bytes at 1000..1255): here at 256..275.
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<unk>", True),  # 0
    ("<s>", True),  # 1
    ("</s>", True),  # 2
    ("[INST]", True),  # 3
    ("[/INST]", True),  # 4
    ("[AVAILABLE_TOOLS]", True),  # 5
    ("[/AVAILABLE_TOOLS]", True),  # 6
    ("[TOOL_RESULTS]", True),  # 7
    ("[/TOOL_RESULTS]", True),  # 8
    ("[TOOL_CALLS]", True),  # 9
    ("[IMG]", True),  # 10 = image_token_index
    ("<pad>", True),  # 11
    ("[IMG_BREAK]", True),  # 12
    ("[IMG_END]", True),  # 13
    ("[PREFIX]", True),  # 14
    ("[MIDDLE]", True),  # 15
    ("[SUFFIX]", True),  # 16
    ("[SYSTEM_PROMPT]", True),  # 17
    ("[/SYSTEM_PROMPT]", True),  # 18
    ("[TOOL_CONTENT]", True),  # 19
]

# The checkpoint's chat_template (Hugging Face format): a dated default system prompt, then
# [INST]…[/INST] per user turn with [IMG] where an image block sits.
CHAT_TEMPLATE = (
    '{%- set today = strftime_now("%Y-%m-%d") %}\n'
    '{%- set default_system_message = "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, '
    'a French startup headquartered in Paris.\\nYour knowledge base was last updated on 2023-10-01. The current date is " '
    "+ today + \".\\n\\nWhen you're not sure about some information, you say that you don't have the information and "
    "don't make up anything.\\nIf the user's question is not clear, ambiguous, or does not provide enough context for "
    "you to accurately answer the question, you do not try to answer it right away and you rather ask the user to "
    'clarify their request (e.g. \\"What are some good restaurants around me?\\" => \\"Where are you?\\" or '
    '\\"When is the next flight to Tokyo\\" => \\"Where do you travel from?\\")" %}\n'
    "\n{{- bos_token }}\n\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- if messages[0]['content'] is string %}\n"
    "        {%- set system_message = messages[0]['content'] %}\n"
    "    {%- else %}\n"
    "        {%- set system_message = messages[0]['content'][0]['text'] %}\n"
    "    {%- endif %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = default_system_message %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}\n\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- '[INST]' + message['content'] + '[/INST]' }}\n"
    "        {%- else %}\n"
    "            {{- '[INST]' }}\n"
    "            {%- for block in message['content'] %}\n"
    "                {%- if block['type'] == 'text' %}\n"
    "                    {{- block['text'] }}\n"
    "                {%- elif block['type'] in ['image', 'image_url'] %}\n"
    "                    {{- '[IMG]' }}\n"
    "                {%- else %}\n"
    "                    {{- raise_exception('Only text and image blocks are supported in message content!') }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "            {{- '[/INST]' }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'system' %}\n"
    "        {{- '[SYSTEM_PROMPT]' + (message['content'] if message['content'] is string else message['content'][0]['text']) + '[/SYSTEM_PROMPT]' }}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- (message['content'] if message['content'] is string else message['content'][0]['text']) + eos_token }}\n"
    "    {%- else %}\n"
    "        {{- raise_exception('Only user, system and assistant roles are supported!') }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
)


def build_tokenizer():
    """Byte-level tokenizer with tekken's control tokens in real order; ``<s>`` prepended (as the real one)."""
    return mistral_tokenizer(SPECIAL_TOKENS, chat_template=CHAT_TEMPLATE, model_max_length=131072)


def build_config(tok):
    """The tiny ``Mistral3Config``: real structure (GQA, no sliding window, merge 2), tiny widths."""
    from transformers import Mistral3Config, MistralConfig, PixtralVisionConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<pad>", "[IMG]")}
    vision = PixtralVisionConfig(
        **tiny_vision_widths(),
        image_size=SPEC["vision_image_size"],
        patch_size=SPEC["patch_size"],
        hidden_act="silu",  # real
        rope_theta=10000.0,  # real
    )
    # GQA 4 heads / 2 KV heads (real 32 heads / 8 KV heads), no sliding window as the real one
    text = MistralConfig(
        **mistral_text_config(
            tok,
            head_dim=TINY["text_hidden"] // TINY["text_heads"],
            hidden_act="silu",
            max_position_embeddings=131072,  # real
            rope_theta=1000000000.0,  # real
        )
    )
    return Mistral3Config(
        architectures=["Mistral3ForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["[IMG]"],
        projector_hidden_act="gelu",
        vision_feature_layer=-1,
        multimodal_projector_bias=False,
        spatial_merge_size=SPEC["spatial_merge_size"],
    )


def build_processor(tok, spec=None):
    """``PixtralProcessor`` (image-only subclass, slow image processor) with the twin's sizes."""
    from transformers import PixtralImageProcessor

    from synfaith.models.mistral3 import ImageOnlyPixtralProcessor

    s = spec or SPEC
    image_processor = PixtralImageProcessor(
        **rescale_settings(),  # bicubic, real
        size={"longest_edge": s["longest_edge"]},
        patch_size={"height": s["patch_size"], "width": s["patch_size"]},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    return ImageOnlyPixtralProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=s["patch_size"],
        spatial_merge_size=s["spatial_merge_size"],
        chat_template=CHAT_TEMPLATE,
        image_token="[IMG]",
        image_break_token="[IMG_BREAK]",
        image_end_token="[IMG_END]",
    )


RECIPE = TwinRecipe(
    arch="mistral3",
    model_class="Mistral3ForConditionalGeneration",
    twin_of=TWIN_OF,
    tokenizer=build_tokenizer,
    config=build_config,
    processor=build_processor,
    notes=(
        "Widths scaled to TINY (vision 32 wide, 2 layers, 2 heads; LM 64 wide, 2 layers, 4 heads with 2 KV heads, "
        "head_dim 16; real vision 1024×24, LM 5120×40, 32/8 heads, head_dim 128). Kept real: patch 14, spatial merge 2, "
        "vision image_size 1540 (the 2-D RoPE's extent), silu vision MLP, vision_feature_layer -1, projector without "
        "bias, rope_theta 1e9, no sliding window, 131072 positions, CLIP mean/std, bicubic resize with sides rounded "
        "up to 28 px. Scaled: the twin processor's own longest_edge is 112 px (real 1540) so raw use stays tiny; the "
        "adapter passes its own cap (560 px by default). Tokenizer: byte-level (bytes 0-255) plus tekken's 20 "
        "control tokens in real order at 256-275 (real ids 0-19; the unused <SPECIAL_20>…<SPECIAL_999> and tekken's "
        "merges are left out), <s> prepended as the real tokenizer does, vocabulary padded to 320. Chat template: "
        "the checkpoint's chat_template (dated default system prompt included; the Hub is out of reach here, so it is "
        "written from public copies of that template), the date pinned by the adapter's prompt_date."
    ),
    spec=SPEC,
)
