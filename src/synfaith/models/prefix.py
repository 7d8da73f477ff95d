"""Prefix sharing: the prompt up to the first query token is run once per distinct image mask.

In every supported chat template the image precedes the query, so under causal attention the
keys and values of the tokens before the first query token depend only on the image mask —
584 of LLaVA-1.5's 617 tokens, while F_syn's 58 coalitions use about 20 distinct image masks.
:func:`shared_prefix_logits` runs that prefix once per distinct mask with the KV cache, repeats
each cache row for the coalitions that share it, and runs only their suffixes (the query, the
template's tail, the generated prefix and the answer). It is exact up to float rounding: the
same attention over the same keys, computed in two pieces.

Position ids are the full sequence's (Qwen2.5-VL's M-RoPE indices included), sliced into the
prefix and suffix parts, so every token keeps the position it has in one full forward pass.
A cross-attention model (mllama) has no image tokens in the prefix: the prefix depends on the
image mask through its cross-attention states, whose keys and values the prefix's cache holds
(one row per distinct mask, repeated like the rest), so sharing stays exact; per-token inputs
(:data:`TOKEN_INPUTS`) are sliced like the position ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from synfaith.contracts import Prepared


def prefix_length(prepared: Prepared) -> int | None:
    """Tokens before the first query token, when every visual token lies among them (else None)."""
    query = prepared.layout.query_positions
    visual = prepared.layout.visual_positions
    if query.numel() == 0:
        return None
    split = int(query.min())
    if split < 1 or (visual.numel() and int(visual.max()) >= split):
        return None
    return split


# language-model inputs laid out along the sequence (last dim), cut into prefix and suffix
# and repeated over the batch (the second-to-last dim)
SEQUENCE_INPUTS = ("position_ids", "token_type_ids")
# per-token inputs laid out [batch, sequence, ...] (mllama's cross_attention_mask): cut along
# dim 1, repeated over the batch along dim 0
TOKEN_INPUTS = ("cross_attention_mask",)


def _sliced(inputs: dict, start: int, stop: int | None) -> dict:
    """Language-model inputs with the :data:`SEQUENCE_INPUTS` and :data:`TOKEN_INPUTS` cut to [start, stop)."""
    return {
        k: (v[..., start:stop] if k in SEQUENCE_INPUTS else v[:, start:stop] if k in TOKEN_INPUTS else v)
        for k, v in inputs.items()
    }


def shared_prefix_logits(
    adapter, prepared: Prepared, input_ids: torch.Tensor, features: torch.Tensor, which_image: torch.Tensor, split: int, n_logits: int
) -> tuple[torch.Tensor, int]:
    """The last ``n_logits`` logits [B, n_logits, V] of B masked variants, with the prefix shared.

    Args:
        adapter: the VLM adapter (its model, embeddings and ``language_model_inputs``).
        input_ids: [B, L] the variants' token ids (masked query tokens already the pad token).
        features: [D, v, d] image features of the D distinct image masks.
        which_image: [B] the distinct mask of each variant.
        split: the prefix length (:func:`prefix_length`).

    Returns:
        ``(logits, token_forwards)``: the logits and the tokens the model actually ran
        (``D × split`` prefix tokens plus ``B × (L − split)`` suffix tokens).
    """
    model = adapter.model
    device = input_ids.device
    n_variants, length = input_ids.shape
    n_distinct = features.shape[0]
    image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}

    # masking turns query tokens into the pad token: it changes no prefix id and no position, so
    # the prefix ids and the position ids (M-RoPE included) are one row's, computed once
    prefix_ids = input_ids[:1, :split].repeat(n_distinct, 1)
    prefix_embeds = adapter.write_image_features(model.get_input_embeddings()(prefix_ids), features, prepared)
    positions = adapter.language_model_inputs(input_ids[:1], image_inputs)
    prefix = adapter.model_forward(
        prefix_embeds,
        prepared,
        attention_mask=torch.ones((n_distinct, split), dtype=torch.long, device=device),
        use_cache=True,
        logits_to_keep=1,
        **repeat_rows(_sliced(positions, 0, split), n_distinct),
    )
    cache = prefix.past_key_values
    cache.batch_select_indices(which_image)  # one cache row per variant (rows shared by a mask repeat)

    suffix = adapter.model_forward(
        model.get_input_embeddings()(input_ids[:, split:]),
        prepared,
        attention_mask=torch.ones((n_variants, length), dtype=torch.long, device=device),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=n_logits,
        **repeat_rows(_sliced(positions, split, None), n_variants),
    )
    return suffix.logits[:, -n_logits:], n_distinct * split + n_variants * (length - split)


def repeat_rows(inputs: dict, n: int) -> dict:
    """One row's language-model inputs for ``n`` rows (the batch is the second-to-last dim of the :data:`SEQUENCE_INPUTS`)."""
    return {
        k: (v.expand(*v.shape[:-2], n, v.shape[-1]) if k in SEQUENCE_INPUTS else v.expand(n, *v.shape[1:]) if k in TOKEN_INPUTS else v)
        for k, v in inputs.items()
    }
