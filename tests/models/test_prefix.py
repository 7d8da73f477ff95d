"""Prefix sharing is exact: every coalition the metrics and MultiSHAP ask for has the same value with it and without."""

import numpy as np
import pytest

from synfaith.explainers import get_explainer
from synfaith.models.prefix import prefix_length
from synfaith.runs.pipeline import MetricPlan, score_instance
from tests.conftest import greedy_target

PLAN = MetricPlan.build(["redundancy", "unimodal", "fsyn", "sii"], {"steps": 5, "background_players": 3})


def _requested_coalitions(adapter, instance, target=None, share=True):
    """Run the metrics and MultiSHAP through one game (prefix sharing forced on or off); return the game."""
    games = []
    previous, adapter.prefix_cache = adapter.prefix_cache, share
    make_game = adapter.game

    def recording_game(prepared, generated, **options):
        games.append(make_game(prepared, generated, **options))
        return games[-1]

    adapter.game = recording_game
    if target is not None:  # random twins answer no format: a given target instead of the generated one
        adapter.generate_target = target
    try:
        explainers = {"random": get_explainer("random"), "multishap": get_explainer("multishap", budget=128, max_visual_players=4, max_text_players=4)}
        rows = score_instance(adapter, instance, explainers=explainers, plan=PLAN)
    finally:
        adapter.prefix_cache = previous
        del adapter.game
        if target is not None:
            del adapter.generate_target
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("message") for r in rows]
    return games[0]


def _assert_same_without_sharing(adapter, game):
    n = game.n_image + game.n_text
    keys = list(game._cache)
    masks = np.stack([np.unpackbits(np.frombuffer(key, np.uint8))[:n].astype(bool) for key in keys])
    shared = np.array([game._cache[key] for key in keys])
    previous, adapter.prefix_cache = adapter.prefix_cache, False
    try:
        whole = np.concatenate([
            adapter.target_probabilities(game.prepared, game.target, masks[i : i + 16, : game.n_image], masks[i : i + 16, game.n_image :])
            for i in range(0, len(masks), 16)
        ])
    finally:
        adapter.prefix_cache = previous
    assert len(keys) > 50
    np.testing.assert_allclose(shared, whole, rtol=1e-5, atol=1e-12)


def test_prefix_sharing_is_exact_on_every_twin(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    assert prefix_length(adapter.prepare(yes_no_instance)) is not None  # it applies: the image precedes the query
    game = _requested_coalitions(adapter, yes_no_instance, target=lambda prepared: greedy_target(adapter, prepared))
    assert game.token_forwards > 0
    _assert_same_without_sharing(adapter, game)


def test_prefix_sharing_is_exact_with_a_generated_prefix_and_a_several_token_answer(adapters, arch, choice_instance):
    adapter = adapters[arch]
    game = _requested_coalitions(adapter, choice_instance, target=lambda prepared: adapter.make_target(prepared, "(B) three", "The answer is "))
    assert game.target.answer_ids.numel() > 1 and game.target.prefix_ids.numel() > 0
    _assert_same_without_sharing(adapter, game)


def test_prefix_sharing_is_exact_on_the_toy_and_runs_fewer_tokens():
    from synfaith.data.synthetic import synthetic_instances
    from synfaith.models import load_model

    toy = load_model("toy")
    instance = synthetic_instances(1, families=("counting",), subsets=("synergy",))[0]
    game = _requested_coalitions(toy, instance)
    _assert_same_without_sharing(toy, game)
    shared = game.token_forwards
    unshared = _requested_coalitions(toy, instance, share=False)
    assert unshared.evaluations == game.evaluations and unshared.token_forwards > shared


def test_auto_shares_only_where_it_saves_a_tenth_of_the_tokens():
    from synfaith.data.synthetic import synthetic_instances
    from synfaith.models import load_model

    toy = load_model("toy")
    assert toy.prefix_cache == "auto"
    prepared = toy.prepare(synthetic_instances(1, families=("existence",), subsets=("synergy",))[0])
    target = toy.generate_target(prepared)
    length = toy.sequence_ids(prepared, target).numel()
    split = prefix_length(prepared)
    ones = np.ones((8, prepared.n_text_units), bool)
    same_image = np.ones((8, prepared.n_image_units), bool)
    before = toy.token_forwards
    toy.target_probabilities(prepared, target, same_image, ones)  # one distinct image: shares (it saves ≥ 10%)
    shared = split + 8 * (length - split)
    assert shared <= 0.9 * 8 * length and toy.token_forwards - before == shared
    distinct = np.eye(8, prepared.n_image_units, dtype=bool) | ~np.eye(8, prepared.n_image_units, dtype=bool)[::-1]
    assert len(np.unique(distinct, axis=0)) == 8
    before = toy.token_forwards
    toy.target_probabilities(prepared, target, distinct, ones)  # every coalition its own image: nothing to share
    assert toy.token_forwards - before == 8 * length
    with pytest.raises(ValueError, match="prefix_cache must be"):
        type(toy)(toy.model, toy.processor, prefix_cache="sometimes")
