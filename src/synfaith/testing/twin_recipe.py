"""What a tiny twin is made of, and the one function that writes any twin to disk.

A family's twin is a :class:`TwinRecipe`: the real ``transformers`` model class, a function
building the tiny config from the tokenizer, the tokenizer (byte-level, with the real
checkpoint's special tokens and chat template: :func:`byte_level_tokenizer`) and the
processor. :func:`write_twin` turns a recipe into a checkpoint directory that
``synfaith.models.load_model`` loads like the real one. A new family's recipe is one module in
:mod:`synfaith.testing.families` and one line in :data:`synfaith.testing.twins.TWIN_RECIPES`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPENAI_CLIP_MEAN", "OPENAI_CLIP_STD", "TINY", "TwinRecipe", "byte_level_core", "byte_level_tokenizer", "pad64", "write_twin"]

# The widths every twin shares: milliseconds per forward pass on a CPU.
TINY: dict[str, int] = {
    "vision_hidden": 32,
    "vision_heads": 2,
    "vision_layers": 2,
    "text_hidden": 64,
    "text_heads": 4,
    "text_layers": 2,
    "text_ffn": 128,
}

# The OpenAI CLIP normalisation (image_mean / image_std of CLIP-trained vision towers).
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# Qwen2's pre-tokenizer split pattern (tokenizer.json of Qwen2/2.5 models).
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def pad64(n: int) -> int:
    """``n`` rounded up to a multiple of 64 (real checkpoints pad their vocabularies)."""
    return -(-n // 64) * 64


@dataclass(frozen=True)
class TwinRecipe:
    """How to build one family's random-weight tiny twin offline.

    Attributes:
        arch: the config's ``model_type`` (also the name ``build_twin`` takes).
        model_class: the ``transformers`` class name, e.g. ``"Qwen2VLForConditionalGeneration"``.
        twin_of: the real checkpoint whose layout the twin mirrors.
        tokenizer: ``() -> tokenizer``.
        config: ``tokenizer -> PretrainedConfig``.
        processor: ``(tokenizer, spec or None) -> processor`` (spec None: the twin's sizes).
        extra_eos: tokens that also end generation (beside the text config's ``eos_token_id``).
        notes: what the twin changes from the real checkpoint beyond widths.
        init_weights: ``model -> None``, run on the freshly initialised model under the seed (e.g. to
            draw a projection that the class initialises to zeros, which would cut the image off).
    """

    arch: str
    model_class: str
    twin_of: str
    tokenizer: Callable[[], Any]
    config: Callable[[Any], Any]
    processor: Callable[[Any, Mapping[str, Any] | None], Any]
    extra_eos: tuple[str, ...] = ()
    notes: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    init_weights: Callable[[Any], None] | None = None

    def transformers_class(self):
        """The ``transformers`` model class."""
        import transformers

        return getattr(transformers, self.model_class)


def write_twin(recipe: TwinRecipe, out_dir, seed: int = 0) -> pathlib.Path:
    """Build ``recipe``'s model with seed ``seed`` and save model, generation config and
    processor into ``out_dir`` (the global torch RNG state is restored afterwards)."""
    import torch
    from transformers import GenerationConfig

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = recipe.tokenizer()
    config = recipe.config(tok)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = recipe.transformers_class()(config)
        if recipe.init_weights is not None:
            recipe.init_weights(model)
    model.eval()
    text_config = config.get_text_config()
    eos = text_config.eos_token_id
    if recipe.extra_eos:
        eos = [*(eos if isinstance(eos, list) else [eos]), *(tok.convert_tokens_to_ids(t) for t in recipe.extra_eos)]
    model.generation_config = GenerationConfig(
        bos_token_id=getattr(text_config, "bos_token_id", None), eos_token_id=eos, pad_token_id=tok.pad_token_id, do_sample=False
    )
    model.save_pretrained(out, safe_serialization=True)
    recipe.processor(tok, None).save_pretrained(out)
    return out


def byte_level_core(special_tokens: Sequence[tuple[str, bool]], *, split: str = "bytes"):
    """A ``tokenizers.Tokenizer``: the 256 bytes (ids 0–255, no merges), then ``special_tokens``
    (``(token, special?)`` in the real checkpoint's order) at ids 256, 257, …

    Args:
        split: ``"bytes"`` (GPT-2 byte-level pre-tokenizer, as Llama-style tokenizers) or
            ``"qwen"`` (NFC, Qwen2's regex split, then bytes).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    byte_to_char = bytes_to_unicode()
    core = Tokenizer(models.BPE(vocab={byte_to_char[b]: b for b in range(256)}, merges=[], fuse_unk=False))
    if split == "qwen":
        core.normalizer = normalizers.NFC()
        core.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    elif split == "bytes":
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        raise ValueError(f"split must be 'bytes' or 'qwen', got {split!r}")
    core.decoder = decoders.ByteLevel()
    for i, (token, special) in enumerate(special_tokens):
        added = AddedToken(token, lstrip=False, rstrip=False, normalized=False, special=special)
        n = core.add_special_tokens([added]) if special else core.add_tokens([added])
        if n != 1 or core.token_to_id(token) != 256 + i:
            raise RuntimeError(f"token {token!r} did not get id {256 + i}")
    return core


def byte_level_tokenizer(
    special_tokens: Sequence[tuple[str, bool]],
    *,
    chat_template: str | None,
    split: str = "bytes",
    bos: str | None = None,
    tokenizer_class: Any = None,
    **kwargs,
):
    """A ``PreTrainedTokenizerFast`` (or ``tokenizer_class``) over :func:`byte_level_core`.

    Args:
        bos: a token prepended to every sequence (as Llama and Gemma tokenizers do), or None.
        kwargs: the wrapper's arguments (``eos_token``, ``pad_token``, ``model_max_length``,
            ``additional_special_tokens``, ``extra_special_tokens``, …).
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    core = byte_level_core(special_tokens, split=split)
    if bos is not None:
        core.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, core.token_to_id(bos))]
        )
        kwargs.setdefault("bos_token", bos)
    kwargs.setdefault("model_input_names", ["input_ids", "attention_mask"])
    kwargs.setdefault("padding_side", "left")
    kwargs.setdefault("clean_up_tokenization_spaces", False)
    return (tokenizer_class or PreTrainedTokenizerFast)(tokenizer_object=core, chat_template=chat_template, **kwargs)


def qwen2_tokenizer(special_tokens: Sequence[tuple[str, bool]], *, chat_template: str, model_max_length: int, **overrides):
    """A byte-level ``Qwen2TokenizerFast`` over ``special_tokens`` (Qwen2 split, no BOS, eos
    ``<|im_end|>``, pad ``<|endoftext|>``; every special token but ``<|endoftext|>`` additional,
    unless ``overrides`` names ``additional_special_tokens``)."""
    from transformers import Qwen2TokenizerFast

    settings: dict[str, Any] = dict(
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        split_special_tokens=False,
        additional_special_tokens=[t for t, special in special_tokens if special and t != "<|endoftext|>"],
        model_max_length=model_max_length,
    )
    return byte_level_tokenizer(special_tokens, chat_template=chat_template, split="qwen", tokenizer_class=Qwen2TokenizerFast, **settings | overrides)
