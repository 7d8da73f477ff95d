"""The target of an open (free-form) answer: the generated answer itself (docs/open-answers.md).

:func:`generate_open_target` decodes greedily on the clean input, bounded by the format's
``max_tokens`` (``max_answer_tokens``) and stopped at the end of turn — the model's eos and
end-of-turn tokens (:func:`stop_token_ids`). The answer is the response stripped: trailing
whitespace and the end tokens are not part of it, and whitespace-only tokens before it are the
generated prefix (context, kept fixed). The game scores the answer's tokens jointly,
teacher-forced (``answer_log_prob`` in :mod:`synfaith.models.base`); the Target keeps each
token's log-probability on the clean input from the same teacher-forced forward
(:func:`teacher_forced_log_probs`), so they sum to ``log v(V, T)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from synfaith.contracts import Prepared, Target
from synfaith.models.answers import OpenAnswer, answer_token_span, match_open, references_of

# end-of-turn markers of the common chat templates, used as stop tokens when the tokenizer has them
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>", "</s>")


def stop_token_ids(adapter) -> list[int]:
    """Token ids that end the answer: the generation config's and tokenizer's eos, and the
    special end-of-turn tokens of :data:`END_OF_TURN_TOKENS` the tokenizer knows."""
    tokenizer = adapter.tokenizer
    config = getattr(adapter.model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) | {tokenizer.eos_token_id}
    special = set(tokenizer.all_special_tokens) | {str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if getattr(t, "special", False)}
    vocab = tokenizer.get_vocab()
    ids |= {vocab[token] for token in END_OF_TURN_TOKENS if token in vocab and token in special}
    return sorted(int(i) for i in ids if i is not None)


def cut_at_stop(new_ids: torch.Tensor, stop_ids) -> torch.Tensor:
    """``new_ids`` up to (not including) the first stop token."""
    stops = torch.isin(new_ids, torch.as_tensor(list(stop_ids), dtype=new_ids.dtype))
    hits = torch.nonzero(stops).flatten()
    return new_ids[: int(hits[0])] if hits.numel() else new_ids


def teacher_forced_log_probs(adapter, prepared: Prepared, target: Target) -> tuple[float, ...]:
    """``log p(answer_j | …)`` of each answer token on the clean input, in float64.

    The same forward as the game's value of the full coalition ``v(V, T)`` (``_masked_logits``
    with every unit kept); the adapter's pass counters are left as they were (this is neither
    the game's nor an explainer's work).
    """
    before = adapter.token_forwards, adapter.forward_passes
    n_answer = target.answer_ids.numel()
    keep = np.ones((1, prepared.n_image_units), bool), np.ones((1, prepared.n_text_units), bool)
    with torch.inference_mode():
        logits = adapter._masked_logits(prepared, adapter.sequence_ids(prepared, target), *keep, n_answer)
        log_probs = torch.log_softmax(logits[0, -n_answer:].double(), dim=-1)
        chosen = log_probs.gather(-1, target.answer_ids.to(log_probs.device)[:, None]).squeeze(-1)
    adapter.token_forwards, adapter.forward_passes = before
    return tuple(float(x) for x in chosen.cpu())


def generate_open_target(adapter, prepared: Prepared, answer_format: OpenAnswer) -> Target:
    """The generated answer as the target, with its per-token log-probabilities and correctness.

    Raises:
        ContextLengthError: the prompt and ``max_tokens`` overflow the model's context.
        UnparseableAnswerError: the model ended its turn without an answer (only whitespace).
    """
    from synfaith.models.base import ContextLengthError

    n_prompt = prepared.layout.input_ids.numel()
    context = adapter.context_length()
    if context is not None and n_prompt + answer_format.max_tokens > context:
        raise ContextLengthError(
            f"instance {prepared.instance.id!r}: the prompt has {n_prompt} tokens and an open answer up to "
            f"{answer_format.max_tokens} (max_answer_tokens), over the model's context of {context} tokens; lower max_answer_tokens"
        )
    stops = stop_token_ids(adapter)
    with torch.inference_mode():
        output = adapter.model.generate(
            **adapter._model_inputs(prepared),
            max_new_tokens=answer_format.max_tokens,
            do_sample=False,
            pad_token_id=adapter.pad_token_id,
            eos_token_id=stops,
        )
    # a normal tensor, not an inference tensor: explainers differentiate through its use
    new_ids = cut_at_stop(output[0, n_prompt:].cpu().clone(), stops)
    decode = adapter.tokenizer.decode
    ends = [len(decode(new_ids[: i + 1], skip_special_tokens=True)) for i in range(new_ids.numel())]
    response = decode(new_ids, skip_special_tokens=True)
    parsed, first, last = answer_token_span(ends, response, answer_format)
    correct, correct_by = match_open(parsed.answer, references_of(prepared.instance))
    target = Target(
        response=response,
        answer=parsed.answer,
        prefix_ids=new_ids[:first],
        answer_ids=new_ids[first : last + 1],
        correct=correct,
        correct_by=correct_by,
    )
    return dataclasses.replace(target, token_log_probs=teacher_forced_log_probs(adapter, prepared, target))
