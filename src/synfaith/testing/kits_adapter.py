"""The adapter contract checks behind :func:`synfaith.testing.check_adapter` (docs/design.md §1–2).

Each function here is one named check; :func:`adapter_checks` runs them in order inside a
:class:`~synfaith.testing.kits_base.Checks`, so the first failure is an AssertionError that
names its check.
"""

from __future__ import annotations

import re

import numpy as np

from synfaith.testing.kits_base import (
    FSYN_STEPS,
    REL_TOL,
    Checks,
    capabilities_of,
    make_target,
    relative_close,
    require,
)

__all__ = ["adapter_checks"]

N_RANDOM_COALITIONS = 8
MAX_MASKED_UNITS = 64  # units whose pixel masking is checked (all of them up to this many)
_OPTION_LABEL = re.compile(r"^\(?[A-Z]\)?[.:]?$")  # "(A)", "A.", "B:" — what frames a choice


def adapter_checks(adapter, instance, checks: Checks, *, answer_format=None, seed: int = 0):
    """Run every adapter check on ``instance``; return ``(prepared, target)``."""
    with checks.check("prepare"):
        prepared = adapter.prepare(instance)
    with checks.check("units"):
        m, n = prepared.n_image_units, prepared.n_text_units
        require(isinstance(m, (int, np.integer)) and m >= 1, f"n_image_units = {m!r}, expected ≥ 1")
        require(isinstance(n, (int, np.integer)) and n >= 1, f"n_text_units = {n!r}, expected ≥ 1")
    with checks.check("text_units"):
        check_text_units(adapter, prepared, instance)
    with checks.check("target"):
        target = make_target(adapter, prepared, answer_format, checks.notes)
        require(isinstance(target.answer, str) and target.answer != "", f"the target's answer is {target.answer!r}")
        require(int(target.answer_ids.numel()) >= 1, "the target has no answer tokens")
    white_box = "white_box" in capabilities_of(adapter)
    with checks.check("clean_value"):
        check_clean_value(adapter, prepared, target, white_box, checks.notes)
    rng = np.random.default_rng(seed)
    with checks.check("batched_values"):
        game, image_keep, text_keep, values = check_batched_values(adapter, prepared, target, rng)
    with checks.check("cache"):
        check_cache(game, image_keep, text_keep, values)
    with checks.check("pixel_masking"):
        check_pixel_masking(prepared)
    with checks.check("fsyn_cost"):
        check_fsyn_cost(adapter, prepared, target, rng)
    if white_box:
        with checks.check("white_box_gradients"):
            check_white_box_gradients(adapter, prepared, target)
    else:
        checks.notes.append("not white-box: gradients not checked")
    return prepared, target


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_text_units(adapter, prepared, instance) -> None:
    """The text units are query tokens only: the question and its choices, no image or template token."""
    layout = prepared.layout
    ids = layout.input_ids
    positions = [int(p) for p in layout.query_positions]
    require(positions == sorted(set(positions)), f"query positions {positions} are not strictly increasing")
    require(all(0 <= p < ids.numel() for p in positions), f"query positions {positions} fall outside the {ids.numel()} input ids")
    visual = {int(p) for p in layout.visual_positions}
    overlap = sorted(visual.intersection(positions))
    require(not overlap, f"query positions {overlap} are image-token positions")

    tokenizer = getattr(adapter, "tokenizer", None)
    image_token_id = getattr(adapter, "image_token_id", None)
    special = set(getattr(tokenizer, "all_special_ids", ()) or ()) if tokenizer is not None else set()
    for p in positions:
        token = int(ids[p])
        require(token != image_token_id, f"the text unit at position {p} is the image token {token}")
        if token in special:
            shown = tokenizer.convert_ids_to_tokens(token)
            raise AssertionError(f"the text unit at position {p} is the template (special) token {shown!r}")

    query = prepared.query_text
    question = instance.question.strip()
    require(question in query, f"the query text {query!r} does not hold the question {question!r}")
    residual = query.replace(question, " ", 1)
    for choice in sorted(instance.choices or (), key=len, reverse=True):
        require(choice in residual, f"the query text {query!r} does not hold the choice {choice!r}")
        residual = residual.replace(choice, " ", 1)
    extra = [piece for piece in residual.split() if not _OPTION_LABEL.match(piece)]
    require(not extra, f"the query text {query!r} holds {extra}, which are neither question, choices nor option labels")

    spans = tuple(layout.query_spans)
    require(len(spans) == len(positions), f"{len(spans)} query spans for {len(positions)} query tokens")
    bad = [s for s in spans if not 0 <= s[0] < s[1] <= len(query)]
    require(not bad, f"query spans {bad} are empty or outside the query text")
    if tokenizer is not None:
        decoded = tokenizer.decode([int(ids[p]) for p in positions])
    else:
        decoded = "".join(prepared.text_unit_strings())
    require(
        _compact(decoded) in _compact(query),
        f"the text units decode to {decoded!r}, which is not part of the question/choices text {query!r}",
    )
    require(_compact(question) in _compact(decoded), f"the text units {decoded!r} do not cover the question {question!r}")


def _all_kept(prepared) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(prepared.n_image_units, bool), np.ones(prepared.n_text_units, bool)


def _in_unit_interval(values: np.ndarray) -> bool:
    values = np.asarray(values, dtype=np.float64)
    return bool(np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all())


def check_clean_value(adapter, prepared, target, white_box: bool, notes: list[str]) -> None:
    """v(V, T) is the clean input's joint answer probability, computed another way, and lies in [0, 1]."""
    import torch

    from synfaith.models.base import VLMAdapter, answer_log_prob

    value = adapter.game(prepared, target).value(*_all_kept(prepared))
    require(_in_unit_interval(np.array([value])), f"v(V, T) = {value!r} is not a probability in [0, 1]")
    references: dict[str, float] = {}
    if isinstance(adapter, VLMAdapter):  # a Hugging Face model: its own forward pass is the reference
        device = adapter.device
        ids = adapter.sequence_ids(prepared, target)[None].to(device)
        inputs = {k: v.to(device) for k, v in adapter.image_inputs_for(prepared, ids.shape[1]).items()}
        pixels = prepared.pixels.clean.to(device, adapter.model.dtype)
        with torch.inference_mode():
            logits = adapter.model(
                input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, use_cache=False, **inputs
            ).logits
        references["the model's own forward pass"] = float(torch.exp(answer_log_prob(logits, target))[0])
    if white_box:
        with torch.inference_mode():
            embeds, ids = adapter.embedded_inputs(prepared, target)
            logits = adapter.forward_embeddings(embeds, ids, prepared).logits
        references["embedded_inputs + forward_embeddings"] = float(torch.exp(answer_log_prob(logits, target))[0])
    if not references:
        notes.append("clean_value: no independent reference for a black-box adapter (range checked only)")
    for label, reference in references.items():
        require(
            relative_close(value, reference),
            f"v(V, T) = {value!r} but {label} gives the joint probability {reference!r} (rel. tol. {REL_TOL})",
        )


def check_batched_values(adapter, prepared, target, rng):
    """Batched values equal one-at-a-time values (a batch_size=1 game) on random coalitions."""
    m, n = prepared.n_image_units, prepared.n_text_units
    image_keep = rng.random((N_RANDOM_COALITIONS, m)) < 0.5
    text_keep = rng.random((N_RANDOM_COALITIONS, n)) < 0.5
    image_keep = np.vstack([image_keep, np.ones(m, bool), np.zeros(m, bool)])
    text_keep = np.vstack([text_keep, np.ones(n, bool), np.zeros(n, bool)])
    game = adapter.game(prepared, target)
    batched = np.asarray(game.values(image_keep, text_keep))
    single_game = adapter.game(prepared, target, batch_size=1)
    single = np.asarray(single_game.values(image_keep, text_keep))
    require(batched.shape == (len(image_keep),), f"values returned shape {batched.shape} for {len(image_keep)} coalitions")
    require(_in_unit_interval(batched), f"game values {batched.tolist()} are not all probabilities in [0, 1]")
    require(_in_unit_interval(single), f"one-at-a-time values {single.tolist()} are not all probabilities in [0, 1]")
    require(
        single_game.calls == single_game.evaluations,
        f"a batch_size=1 game made {single_game.calls} calls for {single_game.evaluations} evaluations",
    )
    far = [i for i, (a, b) in enumerate(zip(batched, single)) if not relative_close(float(a), float(b))]
    require(
        not far,
        f"batched and one-at-a-time values differ beyond rel. {REL_TOL} on coalitions {far}: "
        f"{batched[far].tolist()} vs {single[far].tolist()}",
    )
    return game, image_keep, text_keep, batched


def check_cache(game, image_keep, text_keep, values) -> None:
    """Repeated coalitions are served from the cache: evaluations do not grow, values are identical."""
    before = game.evaluations
    again = np.asarray(game.values(image_keep, text_keep))
    require(game.evaluations == before, f"repeating {len(image_keep)} coalitions grew evaluations from {before} to {game.evaluations}")
    require(np.array_equal(again, values), "repeated coalitions returned different values")
    one = game.value(image_keep[0], text_keep[0])
    require(game.evaluations == before and one == values[0], "a single repeated coalition was evaluated again")


def check_pixel_masking(prepared) -> None:
    """Masking visual unit k changes exactly unit k's elements of the pixel tensor (to the zero-state)."""
    import torch

    pixels = prepared.pixels
    m = prepared.n_image_units
    clean, blurred = pixels.clean, pixels.blurred
    index = pixels.unit_index.expand_as(clean)
    present = set(torch.unique(index).tolist())
    require(present <= set(range(-1, m)), f"unit_index holds {sorted(present - set(range(-1, m)))}, outside -1..{m - 1}")
    missing = sorted(set(range(m)) - present)
    require(not missing, f"visual units {missing[:10]} own no element of the pixel tensor")
    whole = pixels.masked(np.ones((1, m), bool)).reshape(clean.shape)
    require(torch.equal(whole, clean), "keeping every unit does not give the clean pixels")
    units = np.arange(m)
    if m > MAX_MASKED_UNITS:
        units = np.sort(np.random.default_rng(0).choice(m, MAX_MASKED_UNITS, replace=False))
    for chunk in np.array_split(units, max(1, len(units) // 16)):
        keep = np.ones((len(chunk), m), bool)
        keep[np.arange(len(chunk)), chunk] = False
        variants = pixels.masked(keep).reshape(len(chunk), *clean.shape)
        for k, variant in zip(chunk, variants):
            inside = index == int(k)
            require(torch.equal(variant[~inside], clean[~inside]), f"masking visual unit {k} changed elements of other units")
            require(torch.equal(variant[inside], blurred[inside]), f"masking visual unit {k} did not put its elements at the zero-state")


def check_fsyn_cost(adapter, prepared, target, rng) -> None:
    """F_syn with K steps uses at most 6K + 2 evaluations on a fresh game."""
    from synfaith.metrics import synergistic_faithfulness

    game = adapter.game(prepared, target)
    result = synergistic_faithfulness(
        game, rng.normal(size=prepared.n_image_units), rng.normal(size=prepared.n_text_units), steps=FSYN_STEPS
    )
    bound = 6 * FSYN_STEPS + 2
    require(game.evaluations <= bound, f"F_syn (K = {FSYN_STEPS}) made {game.evaluations} evaluations, more than {bound}")
    require(np.isfinite(result.score), f"F_syn = {result.score!r} is not finite")


def check_white_box_gradients(adapter, prepared, target) -> None:
    """Gradients of the answer log-probability reach the pixel tensor and the input embeddings
    (at the image tokens, or — without image tokens — at the cross-attention states)."""
    import torch

    from synfaith.models.base import answer_log_prob

    model = getattr(adapter, "model", None)
    device = getattr(adapter, "device", prepared.pixels.clean.device)
    dtype = model.dtype if model is not None else prepared.pixels.clean.dtype
    layout = prepared.layout
    # no image tokens (a cross-attention model such as mllama): the image enters the LM through
    # the states image_features returns, so the gradient must reach those instead
    states: list = []
    cross_attention = layout.visual_positions.numel() == 0 and hasattr(adapter, "image_features")
    with torch.enable_grad():
        pixels = prepared.pixels.clean.detach().to(device, dtype).requires_grad_()
        if cross_attention:
            image_features = adapter.image_features

            def recording(*args, **kwargs):
                states.append(image_features(*args, **kwargs))
                return states[-1]

            adapter.image_features = recording
        try:
            embeds, ids = adapter.embedded_inputs(prepared, target, pixel_values=pixels)
        finally:
            if cross_attention:
                del adapter.image_features
        require(embeds.requires_grad, "embedded_inputs(pixel_values=…) returned embeddings not connected to the pixels")
        require(not cross_attention or len(states) == 1, f"embedded_inputs called image_features {len(states)} times, expected once")
        score = answer_log_prob(adapter.forward_embeddings(embeds, ids, prepared).logits, target).sum()
        pixel_grad, embed_grad, *state_grad = torch.autograd.grad(score, [pixels, embeds, *states], allow_unused=True)
    require(pixel_grad is not None, "no gradient reaches the pixel tensor")
    require(embed_grad is not None, "no gradient reaches the input embeddings")
    require(bool(torch.isfinite(pixel_grad).all()), "the pixel gradient is not finite")
    require(bool(torch.isfinite(embed_grad).all()), "the embedding gradient is not finite")
    require(bool(pixel_grad.abs().sum() > 0), "the pixel gradient is zero everywhere")
    query = embed_grad[0, layout.query_positions.to(embed_grad.device)]
    require(bool(query.abs().sum() > 0), "the gradient at the query tokens' embeddings is zero")
    if cross_attention:
        grad = state_grad[0]
        require(grad is not None and bool(torch.isfinite(grad).all()), "no finite gradient reaches the image features (cross-attention states)")
        require(bool(grad.abs().sum() > 0), "the gradient at the image features (cross-attention states) is zero")
        return
    visual = embed_grad[0, layout.visual_positions.to(embed_grad.device)]
    require(bool(visual.abs().sum() > 0), "the gradient at the image tokens' embeddings is zero")
