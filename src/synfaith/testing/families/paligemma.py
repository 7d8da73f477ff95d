"""Tiny twin of ``google/paligemma2-3b-mix-224`` (``PaliGemmaForConditionalGeneration``).

Real layout: ``SiglipImageProcessor`` resizes to 224×224 px (bicubic, no crop, mean = std = 0.5),
SigLIP-so400m cuts 14 px patches → 16×16 = 256 image tokens, a linear projector maps them to the
Gemma 2 LM (26 layers, alternating sliding-window 4096 / global attention, logit soft-capping).
No chat template: the processor writes ``<image>`` × 256 + ``<bos>`` + prompt + ``\\n``, and the
whole prompt is a bidirectional prefix (prefix-LM); the mix checkpoints are prompted with task
prefixes such as ``answer en {question}``.
"""

from __future__ import annotations

from synfaith.testing.families.gemma_tokenizer import gemma_tokenizer, paligemma_extra_tokens
from synfaith.testing.families._common import gemma_text_config, rescale_settings, siglip_vision_config
from synfaith.testing.twin_recipe import TINY, TwinRecipe, pad64

__all__ = ["RECIPE", "SPEC"]

SPEC = {
    # real: 224 px, patch 14 -> 16x16 = 256 tokens
    "image_size": 56,
    "patch_size": 14,
    "image_seq_length": 16,  # 4x4 patches of the real 14 px
    "sliding_window": 512,  # real 4096, > every prompt of either model
}


def _tokenizer():
    # <loc0000>…<seg127> and <image> follow the Gemma vocabulary, as in the real tokenizer
    return gemma_tokenizer(paligemma_extra_tokens() + [("<image>", True)], chat_template=None, model_max_length=8192)


def _config(tok):
    from transformers import Gemma2Config, PaliGemmaConfig

    s = SPEC
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<pad>", "<eos>", "<bos>", "<image>")}
    vocab = pad64(len(tok))
    # one sliding layer, one global (real: alternating over 26 layers)
    text = Gemma2Config(
        **gemma_text_config(
            tok,
            sliding_window=s["sliding_window"],
            max_position_embeddings=8192,
            rope_theta=10000.0,
            final_logit_softcapping=30.0,
            attn_logit_softcapping=50.0,
        )
    )
    vision = siglip_vision_config(
        s["image_size"], s["patch_size"], num_image_tokens=s["image_seq_length"], projector_hidden_act="gelu_fast"
    )
    return PaliGemmaConfig(
        architectures=["PaliGemmaForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<image>"],
        vocab_size=vocab,
        projection_dim=TINY["text_hidden"],
        hidden_size=TINY["text_hidden"],
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<bos>"],
        eos_token_id=ids["<eos>"],
    )


QK_STD = 0.2  # std of the LM's query and key projections (the other weights: N(0, 0.02²))


def _init_weights(model) -> None:
    """Two departures from the class's random initialisation, both towards a trained model.

    The token embeddings are drawn from N(0, 0.02²), as Gemma 2 initialises them (PaliGemma's own
    initialiser leaves them at PyTorch's N(0, 1), which would drown the image features). The
    LM's query and key projections are drawn with std :data:`QK_STD`: at 0.02 attention is almost
    uniform, and over PaliGemma's bidirectional prompt every prompt token then gets the same
    attention output, so layer activations carry no position information (CAM maps come out flat).
    """
    import torch

    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, model.config.text_config.initializer_range)
        for layer in model.model.language_model.layers:
            layer.self_attn.q_proj.weight.normal_(0.0, QK_STD)
            layer.self_attn.k_proj.weight.normal_(0.0, QK_STD)


def _processor(tok, spec=None):
    from transformers import SiglipImageProcessor

    from synfaith.models.paligemma import ImageOnlyPaliGemmaProcessor

    s = spec or SPEC
    image_processor = SiglipImageProcessor(
        **rescale_settings(convert_rgb=None),  # bicubic, as the real preprocessor_config.json
        size={"height": s["image_size"], "width": s["image_size"]},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        image_seq_length=s["image_seq_length"],
    )
    return ImageOnlyPaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)


RECIPE = TwinRecipe(
    arch="paligemma",
    model_class="PaliGemmaForConditionalGeneration",
    twin_of="google/paligemma2-3b-mix-224",
    tokenizer=_tokenizer,
    config=_config,
    processor=_processor,
    spec=SPEC,
    init_weights=_init_weights,
    notes=(
        "56 px instead of 224 px with the real 14 px patch: 4x4 = 16 image tokens (256 real). Byte-level "
        "tokenizer with the real Gemma control and turn tokens, the 1024 <locNNNN> and 128 <segNNN> tokens "
        "and <image>, in real order at ids 256+; no chat template, as the real checkpoint. LM: Gemma 2 with "
        "2 layers (one sliding, one global, as the real alternation), window 512 (real 4096; both exceed "
        "every prompt), head_dim 16 with query_pre_attn_scalar = head_dim, the real soft-capping (attention "
        "50, final 30). Token embeddings drawn from N(0, 0.02²) (PaliGemma's initialiser skips them) and the "
        "LM's query/key projections from N(0, 0.2²), so that random attention is not uniform over the "
        "bidirectional prompt (_init_weights). "
        "Vision: SigLIP, 2 layers, width 32."
    ),
)
