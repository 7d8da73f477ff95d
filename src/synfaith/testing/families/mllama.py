"""Tiny twin of Llama-3.2-Vision (``meta-llama/Llama-3.2-11B-Vision-Instruct``, model_type ``mllama``).

The real classes (``MllamaForConditionalGeneration``, ``MllamaProcessor`` with the slow
``MllamaImageProcessor``) at tiny sizes: tiles of 28 px (real 560) cut into 2×2 patches of 14 px
(real 40×40) plus a class token, at most 4 tiles (real 4), so a square image gives a 2×2 canvas
of 16 visual units; a vision encoder of 2 local + 1 global layers (real 32 + 8) whose output
concatenates the last state with intermediate layers [0, 1] (real [3, 7, 15, 23, 30] of 32);
a Llama LM of 3 layers with one cross-attention layer, [1] (real 40 layers, cross-attention
at [3, 8, …, 38]). The tokenizer is byte-level with the real special tokens in the real order
and the real chat template (:data:`CHAT_TEMPLATE`).
"""

from __future__ import annotations

from synfaith.testing.families._common import rescale_settings, tiny_vision_widths
from synfaith.testing.twin_recipe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY, TwinRecipe, byte_level_tokenizer

__all__ = ["CHAT_TEMPLATE", "RECIPE", "SPEC", "SPECIAL_TOKENS"]

SPEC = {
    "tile_size": 28,  # real 560
    "patch_size": 14,  # real 14
    "max_image_tiles": 4,  # real 4
    "intermediate_layers_indices": [0, 1],  # real [3, 7, 15, 23, 30]
    "num_global_layers": 1,  # real 8
    "text_layers": 3,  # real 40
    "cross_attention_layers": [1],  # real [3, 8, 13, 18, 23, 28, 33, 38]
}

# meta-llama/Llama-3.2-11B-Vision-Instruct: 128000..128010 named, then <|reserved_special_token_3|>
# .. _247|> (128011..128255), then <|image|> = 128256 = the text vocabulary size (the embedding
# has 8 rows more). The twin keeps the order and the reserved tokens up to a vocabulary of 320
# (a multiple of 64, as 128256 is), so <|image|> = 320 = the text vocabulary size too.
_NAMED = [
    "<|begin_of_text|>",  # 128000
    "<|end_of_text|>",  # 128001
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",  # 128004: the pad token
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",  # 128006
    "<|end_header_id|>",  # 128007
    "<|eom_id|>",  # 128008
    "<|eot_id|>",  # 128009
    "<|python_tag|>",  # 128010
]
_TEXT_VOCAB = 320
SPECIAL_TOKENS: list[tuple[str, bool]] = (
    [(t, True) for t in _NAMED]
    + [(f"<|reserved_special_token_{i}|>", True) for i in range(3, 3 + _TEXT_VOCAB - 256 - len(_NAMED))]
    + [("<|image|>", True)]
)

# the real chat template (tokenizer_config.json of Llama-3.2-11B-Vision-Instruct), verbatim
CHAT_TEMPLATE = r'''{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- Find out if there are any images #}
{% set image_ns = namespace(has_images=false) %}      
{%- for message in messages %}
    {%- for content in message['content'] %}
        {%- if content['type'] == 'image' %}
            {%- set image_ns.has_images = true %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}

{#- Error out if there are images and system message #}
{%- if image_ns.has_images and not system_message == "" %}
    {{- raise_exception("Prompting with images is incompatible with system messages.") }}
{%- endif %}

{#- System message if there are no images #}
{%- if not image_ns.has_images %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
    {%- if tools is not none %}
        {{- "Environment: ipython\n" }}
    {%- endif %}
    {{- "Cutting Knowledge Date: December 2023\n" }}
    {{- "Today Date: " + date_string + "\n\n" }}
    {%- if tools is not none and not tools_in_user_message %}
        {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
        {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
        {{- "Do not use variables.\n\n" }}
        {%- for t in tools %}
            {{- t | tojson(indent=4) }}
            {{- "\n\n" }}
        {%- endfor %}
    {%- endif %}
    {{- system_message }}
    {{- "<|eot_id|>" }}
{%- endif %}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}
        {%- if message['content'] is string %}
            {{- message['content'] }}
        {%- else %}
            {%- for content in message['content'] %}
                {%- if content['type'] == 'image' %}
                    {{- '<|image|>' }}
                {%- elif content['type'] == 'text' %}
                    {{- content['text'] }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
'''


def _tokenizer():
    return byte_level_tokenizer(
        SPECIAL_TOKENS,
        chat_template=CHAT_TEMPLATE,
        bos="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        model_max_length=131072,
    )


def _config(tok):
    from transformers import MllamaConfig

    s = SPEC
    hidden = TINY["vision_hidden"]
    vision = dict(
        **tiny_vision_widths(),
        hidden_act="gelu",
        num_global_layers=s["num_global_layers"],
        vision_output_dim=hidden * (1 + len(s["intermediate_layers_indices"])),  # real 1280 · 6 = 7680
        image_size=s["tile_size"],
        patch_size=s["patch_size"],
        norm_eps=1e-5,
        max_num_tiles=s["max_image_tiles"],
        intermediate_layers_indices=s["intermediate_layers_indices"],
        supported_aspect_ratios=[[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>")}
    assert ids["<|image|>"] == _TEXT_VOCAB
    text = dict(
        vocab_size=_TEXT_VOCAB,
        hidden_size=TINY["text_hidden"],
        hidden_act="silu",
        num_hidden_layers=s["text_layers"],
        num_attention_heads=TINY["text_heads"],
        num_key_value_heads=TINY["text_heads"] // 2,  # real 32 heads, 8 key-value heads
        intermediate_size=TINY["text_ffn"],
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
        rms_norm_eps=1e-5,
        max_position_embeddings=131072,
        tie_word_embeddings=False,
        cross_attention_layers=s["cross_attention_layers"],
        bos_token_id=ids["<|begin_of_text|>"],
        eos_token_id=ids["<|eot_id|>"],
        pad_token_id=ids["<|finetune_right_pad_id|>"],
    )
    return MllamaConfig(
        architectures=["MllamaForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<|image|>"],
    )


def _open_gates(model) -> None:
    """Trained-looking tanh gates: the init zeroes every gate, which would cut the image off the LM."""
    import torch

    for name, parameter in model.named_parameters():
        if name.endswith(("gate", "_gate", "gate_attn", "gate_ffn")):
            with torch.no_grad():
                parameter.uniform_(0.5, 1.5)


def _processor(tok, spec=None):
    from transformers import MllamaImageProcessor

    from synfaith.models.mllama import MllamaTiledProcessor

    s = spec or SPEC
    size = s["tile_size"]
    image_processor = MllamaImageProcessor(
        **rescale_settings(resample=2),  # bilinear, as the real one
        size={"height": size, "width": size},
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
        do_pad=True,
        max_image_tiles=s["max_image_tiles"],
    )
    return MllamaTiledProcessor(image_processor=image_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE)


RECIPE = TwinRecipe(
    arch="mllama",
    model_class="MllamaForConditionalGeneration",
    twin_of="meta-llama/Llama-3.2-11B-Vision-Instruct",
    tokenizer=_tokenizer,
    config=_config,
    processor=_processor,
    extra_eos=("<|end_of_text|>", "<|eom_id|>"),  # real generation eos [128001, 128008, 128009]
    notes=(
        "tiles 28 px (real 560) of 2×2 patches of 14 px (real 40×40) + a class token, max 4 tiles as the real; "
        "vision 2 local + 1 global layers (real 32 + 8), intermediate layers [0, 1] (real [3, 7, 15, 23, 30]); "
        "LM 3 layers with cross-attention at [1] (real 40, at [3, 8, …, 38]) and 4 heads / 2 key-value heads "
        "(real 32 / 8); vocabulary 320 (real 128256): the 11 named special tokens and reserved tokens "
        "<|reserved_special_token_3|>.._55|> in the real order, <|image|> = vocabulary size as the real; "
        "every tanh gate drawn in [0.5, 1.5] (the init zeroes them; trained checkpoints have them open, "
        "and closed gates would cut the image off the LM)"
    ),
    spec=SPEC,
    init_weights=_open_gates,
)
