"""Tiny random-weight twin of ``Qwen/Qwen3-VL-2B-Instruct`` (``Qwen3VLForConditionalGeneration``).

Same token layout as the real checkpoint: the Qwen3 tokenizer's 26 added tokens in their real
order (``<|endoftext|>`` 151643 … ``</think>`` 151668, here ids 256…281), the Qwen3-VL-Instruct
chat template (no default system prompt; ``<|vision_start|><|image_pad|><|vision_end|>`` before
the question), and the slow ``Qwen2VLImageProcessor`` with the real patch 16, temporal patch 2,
2×2 merge and mean = std = 0.5; only the pixel bounds are scaled down (see :data:`SPEC`). The
vision tower has DeepStack mergers at two intermediate layers, as the real one has three.
"""

from __future__ import annotations

from typing import Any

from synfaith.testing.families._common import qwen2_image_processor, qwen2_text_config, qwen2_tokenizer, qwen_vl_token_ids
from synfaith.testing.twin_recipe import TINY, TwinRecipe
from synfaith.testing.twins_tokenizers import _QWEN_ADDED

__all__ = ["CHAT_TEMPLATE", "RECIPE", "SPEC", "SPECIAL_TOKENS", "build_config", "build_processor", "build_tokenizer"]

# Qwen/Qwen3-VL-2B-Instruct: the Qwen2.5 added tokens (151643..151664), then Qwen3's four
# (151665..151668), none of them special
SPECIAL_TOKENS: list[tuple[str, bool]] = list(_QWEN_ADDED) + [
    ("<tool_response>", False),  # 151665
    ("</tool_response>", False),  # 151666
    ("<think>", False),  # 151667
    ("</think>", False),  # 151668
]

SPEC: dict[str, Any] = {
    # real preprocessor_config: size {shortest_edge 65536 (256²), longest_edge 16777216 (4096²)};
    # patch 16, merge 2, temporal 2; mean = std = [0.5, 0.5, 0.5]
    "patch_size": 16,
    "merge_size": 2,
    "temporal_patch_size": 2,
    "min_pixels": 128 * 128,  # >= 4×4 merged tokens (real: 8×8); a small image is upsampled
    "max_pixels": 512 * 512,  # <= 16×16 = 256 merged tokens
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}

# chat_template.json of Qwen/Qwen3-VL-2B-Instruct (as the -4B/-8B-Instruct ones)
CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' }}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role == "user" %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content_item in message.content %}
                {%- if 'text' in content_item %}
                    {{- content_item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and message.content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# DeepStack taps intermediate vision blocks and feeds the first LM layers: 3 vision blocks (TINY's 2
# plus one), taps after blocks 0 and 1, added after LM layers 0 and 1 of 3 (TINY's 2 plus one), so the
# last layer runs without, as in the real model (3 taps of 24 blocks, added after 3 of 28 layers)
_VISION_LAYERS = TINY["vision_layers"] + 1
_TEXT_LAYERS = TINY["text_layers"] + 1


def build_tokenizer():
    """Byte-level Qwen2 tokenizer with Qwen3-VL's added tokens and chat template."""
    return qwen2_tokenizer(SPECIAL_TOKENS, chat_template=CHAT_TEMPLATE, model_max_length=262144)


def build_config(tok):
    """Tiny ``Qwen3VLConfig``: real special-token ids (by name), interleaved M-RoPE, DeepStack."""
    from transformers import Qwen3VLConfig

    head_dim = TINY["text_hidden"] // TINY["text_heads"]
    # real: head_dim 128, mrope_section [24, 20, 20] over 64 frequencies, interleaved T H W T H W …;
    # here 8 frequencies: [4, 2, 2] (H at 1, 4; W at 2, 5; T elsewhere)
    mrope = [4, 2, 2]
    assert sum(mrope) == head_dim // 2
    # the Qwen2-style LM, GQA 4 heads / 2 KV heads (real 2B: 16 heads, 8 KV heads)
    text = qwen2_text_config(
        tok,
        num_hidden_layers=_TEXT_LAYERS,
        head_dim=head_dim,
        rope_theta=5000000.0,
        max_position_embeddings=262144,
        rope_scaling={"rope_type": "default", "mrope_section": mrope, "mrope_interleaved": True},
        attention_bias=False,
    )
    vision = dict(
        depth=_VISION_LAYERS,
        hidden_size=TINY["vision_hidden"],
        hidden_act="gelu_pytorch_tanh",
        intermediate_size=2 * TINY["vision_hidden"],
        num_heads=TINY["vision_heads"],
        in_channels=3,
        patch_size=SPEC["patch_size"],
        spatial_merge_size=SPEC["merge_size"],
        temporal_patch_size=SPEC["temporal_patch_size"],
        out_hidden_size=TINY["text_hidden"],  # the mergers project into the LM's width
        num_position_embeddings=16 * 16,  # real 2304 = 48² learned positions, interpolated to the grid
        deepstack_visual_indexes=[0, 1],  # real 2B/4B: [5, 11, 17] of 24 blocks
    )
    return Qwen3VLConfig(
        architectures=["Qwen3VLForConditionalGeneration"],
        text_config=text,
        vision_config=vision,
        **qwen_vl_token_ids(tok, qwen2=False),
        tie_word_embeddings=True,
    )


def build_processor(tok, spec=None):
    """The image-only ``Qwen3VLProcessor`` (slow ``Qwen2VLImageProcessor``) over ``tok``."""
    from synfaith.models.qwen3_vl import ImageOnlyQwen3VLProcessor

    s = {**SPEC, **(spec or {})}
    # min/max_pixels: the real config says size {shortest_edge, longest_edge}, which the slow
    # class's __init__ ignores; its from_pretrained reads both
    ip = qwen2_image_processor(s, image_mean=s["image_mean"], image_std=s["image_std"])
    return ImageOnlyQwen3VLProcessor(image_processor=ip, tokenizer=tok, chat_template=CHAT_TEMPLATE)


RECIPE = TwinRecipe(
    arch="qwen3_vl",
    model_class="Qwen3VLForConditionalGeneration",
    twin_of="Qwen/Qwen3-VL-2B-Instruct",
    tokenizer=build_tokenizer,
    config=build_config,
    processor=build_processor,
    extra_eos=("<|endoftext|>",),  # real generation_config: eos [<|im_end|>, <|endoftext|>]
    notes=(
        "Widths cut to synfaith.testing.twin_recipe.TINY (vision hidden 32, LM hidden 64, 4 heads / 2 KV heads, "
        "head_dim 16; real 2B: 1024-wide 24-block ViT, 2048-wide 28-layer Qwen3 LM, 16 / 8 heads, head_dim 128). "
        "Depths are TINY's plus one (3 vision blocks, 3 LM layers) so that DeepStack keeps its real shape: "
        "features tapped at intermediate vision blocks 0 and 1 (real: 5, 11, 17 of 24) and added after the "
        "first LM layers, the last layer without (real: after 3 of 28). Interleaved mrope_section [4, 2, 2] over the 8 "
        "rotary frequencies keeps the real [24, 20, 20] proportions; 16×16 learned vision positions "
        "(real 48×48), interpolated to the grid as in the real model. Vocabulary: the 256 bytes plus the 26 "
        "real added tokens in their real order (no BPE merges), padded to a multiple of 64. Image processor: "
        "the real patch 16 / merge 2 / temporal 2 / mean = std = 0.5 / bicubic, slow class (the checkpoint "
        "names the fast one, which needs torchvision), with the pixel bounds scaled from 256²..4096² to 128²..512² (4×4 to 16×16 merged tokens: "
        "the kits' 64 px image is upsampled to 4×4 units, as the real bound upsamples it to 8×8 — 2×2 units "
        "made random-weight TAM / GradCAM maps all-zero, 8×8 overran the shared explainer budgets); the adapter's default cap (max_pixels "
        "307200) is passed per call as on the real checkpoint. Chat template: the real Qwen3-VL-Instruct one. "
        "Generation: greedy (the real generation_config samples with top_k 20, top_p 0.8, temperature 0.7)."
    ),
    spec=SPEC,
)
