"""fsyn_search: the highest F_syn a beam search through the game finds (an upper bound per instance)."""

import numpy as np
import pytest

from synfaith.explainers import get_explainer
from synfaith.explainers.fsyn_search import order_scores, search_ranking
from synfaith.games import AdditiveGame, AndGame, FunctionGame, OrGame, RandomGame, SumGame
from synfaith.metrics import synergistic_faithfulness

BIG_BATCH = 10**6  # one _evaluate per game.values call, so game.calls counts the search's batched calls


def fsyn_of(game, result, steps=11):
    return synergistic_faithfulness(game, order_scores(result.image_order), order_scores(result.text_order), steps)


@pytest.mark.parametrize("steps", [3, 5, 11, 21])
@pytest.mark.parametrize("units", [(20, 7, 13, 4), (16, 26, 5, 20), (3, 2, 2, 1)])
def test_and_game_reaches_exactly_k_minus_one_over_k_and_the_metric_agrees_for_free(steps, units):
    m, n, i_star, j_star = units
    game = AndGame(m, n, i_star, j_star, batch_size=BIG_BATCH)
    with game.metered() as cost:
        result = search_ranking(game, steps, max_evaluations=10_000)
    assert result.fsyn == (steps - 1) / steps and not result.exhausted
    assert result.image_order[0] == i_star and result.text_order[0] == j_star
    assert result.coalitions == cost.coalitions == game.evaluations
    assert game.calls <= steps - 1  # one batched call for the screen, at most one per inner step
    metric = fsyn_of(game, result, steps)
    assert metric.score == result.fsyn
    assert metric.evaluations == 0  # every coalition of the found ranking was asked for by the search
    np.testing.assert_array_equal((metric.deletion_dividends + metric.insertion_dividends) / 2, result.step_synergy)


def test_or_game_search_avoids_the_redundant_pair_until_the_last_step():
    """F_syn rewards synergy: on perfect redundancy the best ranking keeps i* or j* out of every
    inner top set, leaving only the last step's Δ = −1, so the bound is −1/K."""
    game = OrGame(20, 7, 13, 4)
    result = search_ranking(game, 11)
    assert result.fsyn == pytest.approx(-1 / 11, abs=1e-12)
    assert result.image_order[-1] == 13 and result.screen_image[13] == -1 and result.screen_text[4] == -1
    assert fsyn_of(game, result).score == pytest.approx(-1 / 11, abs=1e-12)


def test_additive_game_has_no_synergy_to_find():
    game = AdditiveGame.random(9, 5, seed=3)
    result = search_ranking(game, 11)
    assert abs(result.fsyn) < 1e-12 and np.abs(result.screen_image).max() < 1e-12


def test_random_dividend_game_search_beats_random_rankings_and_the_screen_order():
    rng = np.random.default_rng(0)
    for seed in range(6):
        game = RandomGame(10, 6, seed=seed, n_terms=20, max_order=3)
        result = search_ranking(game, 11)
        assert fsyn_of(game, result).score == pytest.approx(result.fsyn, abs=1e-12)
        screen_order = synergistic_faithfulness(game, result.screen_image + 1e-9 * -np.arange(10), result.screen_text + 1e-9 * -np.arange(6)).score
        random_rankings = [synergistic_faithfulness(game, rng.random(10), rng.random(6)).score for _ in range(30)]
        assert result.fsyn >= screen_order - 1e-12
        assert result.fsyn >= np.max(random_rankings) - 1e-12, (seed, result.fsyn, np.max(random_rankings))


def planted_game(seed: int, m: int = 16, n: int = 12):
    """Planted synergy: v = (share of the image evidence kept)² · (share of the text evidence kept)²
    plus a weaker random higher-order game; the Oracle ranks the evidence first."""
    rng = np.random.default_rng(seed)
    image_evidence = rng.choice(m, int(rng.integers(1, 4)), replace=False)
    text_evidence = rng.choice(n, int(rng.integers(1, 4)), replace=False)
    noise = RandomGame(m, n, seed=seed, n_terms=10, max_order=3)
    planted = FunctionGame(lambda a, b: a[:, image_evidence].mean(1) ** 2 * b[:, text_evidence].mean(1) ** 2, m, n)
    game = SumGame(planted, FunctionGame(lambda a, b: 0.2 * noise._evaluate(a, b), m, n))
    oracle_image, oracle_text = -np.arange(m) / m, -np.arange(n) / n  # ties after the evidence: lower index first
    oracle_image[image_evidence] = 1.0
    oracle_text[text_evidence] = 1.0
    return game, oracle_image, oracle_text


def test_search_reaches_the_oracle_on_at_least_90_percent_of_planted_synergy_games():
    reached, gaps = 0, []
    for seed in range(40):
        game, oracle_image, oracle_text = planted_game(seed)
        oracle = synergistic_faithfulness(game, oracle_image, oracle_text).score
        found = search_ranking(game, 11)
        gaps.append(found.fsyn - oracle)
        reached += found.fsyn >= oracle - 0.01
    assert reached / 40 >= 0.9, (reached, np.round(gaps, 3))
    assert np.mean(gaps) > 0.1  # and it finds synergy beyond the evidence the Oracle ranks first (the noise game's)


def test_budget_too_small_for_the_screen_is_a_clear_error_and_a_tight_budget_is_respected():
    game = AndGame(20, 7, 13, 4)
    with pytest.raises(ValueError, match=r"screening 20 visual and 7 text units needs 112 coalitions.*raise max_evaluations to at least 112"):
        search_ranking(game, 11, max_evaluations=100)
    tight = search_ranking(AndGame(20, 7, 13, 4), 11, max_evaluations=130)
    assert tight.coalitions <= 130 and tight.exhausted and np.isnan(tight.fsyn)
    assert sorted(tight.image_order) == list(range(20)) and sorted(tight.text_order) == list(range(7))
    assert tight.image_order[0] == 13  # completed in screen order: still the AND game's best ranking
    assert fsyn_of(AndGame(20, 7, 13, 4), tight).score == pytest.approx(10 / 11)
    # the screen plus 6 per inner step always completes a chain: the swaps leave that much for the bases
    enough = search_ranking(AndGame(20, 7, 13, 4), 11, max_evaluations=112 + 6 * 9)
    assert enough.coalitions <= 166 and not enough.exhausted and enough.fsyn == 10 / 11
    wide = search_ranking(AndGame(20, 7, 13, 4), 11)
    assert wide.coalitions > enough.coalitions  # with room it also tries the swaps


def test_options_are_checked():
    from synfaith.explainers.options import ExplainerOptionError

    assert get_explainer("fsyn_search", beam_width=3).beam_width == 3
    with pytest.raises(ValueError, match="fsyn_search: beam_width must be an integer ≥ 1, got 0"):
        get_explainer("fsyn_search", beam_width=0)
    with pytest.raises(ValueError, match="steps"):
        get_explainer("fsyn_search", steps=1)
    with pytest.raises(ExplainerOptionError, match="option 'pool'"):
        get_explainer("fsyn_search", pool="wide")


def test_order_scores_rank_in_the_given_order():
    order = np.array([3, 0, 2, 1])
    scores = order_scores(order)
    np.testing.assert_array_equal(np.argsort(-scores, kind="stable"), order)
    np.testing.assert_allclose(scores, [0.75, 0.25, 0.5, 1.0])


@pytest.fixture(scope="module")
def toy():
    from synfaith.models import load_model

    return load_model("toy")


@pytest.fixture(scope="module")
def synergy_instances():
    from synfaith.data.synthetic import synthetic_instances

    return [i for i in synthetic_instances(1, split="test", subsets=("synergy",)) if i.ground_truth is not None and i.ground_truth.boxes]


def test_on_the_toy_vlm_the_search_reaches_the_oracle_and_the_metric_scores_its_ranking_for_free(toy, synergy_instances):
    assert len(synergy_instances) == 3  # one existence, counting and relation question
    search, oracle = get_explainer("fsyn_search"), get_explainer("oracle")
    for instance in synergy_instances:
        prepared = toy.prepare(instance)
        target = toy.generate_target(prepared)
        game = toy.game(prepared, target)
        with game.metered() as cost:
            found = search.explain(toy, prepared, target, game=game)
        assert found.model_calls == cost.coalitions == found.raw["coalitions"] <= 4096 and not found.raw["exhausted"]
        fsyn = synergistic_faithfulness(game, found.image_scores, found.text_scores)
        assert fsyn.evaluations == 0 and fsyn.score == pytest.approx(found.raw["fsyn_found"], abs=1e-12)
        explained = oracle.explain(toy, prepared, target)
        reference = synergistic_faithfulness(game, explained.image_scores, explained.text_scores).score
        assert fsyn.score >= reference - 0.01, (instance.id, fsyn.score, reference)


def test_headroom_from_the_pipelines_rows_on_the_toy_vlm(toy, synergy_instances):
    from synfaith.analysis.headroom import headroom_table, normalised_fsyn
    from synfaith.runs.planted import planted_rows

    rows = planted_rows(toy, synergy_instances[:2], ("random", "oracle", "fsyn_search"), ("fsyn",), progress=False)
    assert (rows["status"] == "ok").all()
    assert (rows[rows.explainer == "fsyn_search"].fsyn_evaluations == 0).all()  # F_syn of the found ranking came from the cache
    scored = normalised_fsyn(rows)
    search_rows = scored[scored.explainer == "fsyn_search"]
    assert (search_rows.fsyn_normalised == 1.0).all() and (search_rows.fsyn_headroom == 0.0).all()
    headroom = headroom_table(rows)
    table = headroom.table
    assert table.loc["fsyn_search", "fsyn_normalised"] == 1.0 and headroom.instances == 2
    assert table.loc["random", "headroom"] > 0 and table.loc["random", "fsyn_normalised"] < 1
    expected = rows[rows.explainer == "fsyn_search"].explain_model_calls.mean()
    assert headroom.search_model_calls == expected > 100
