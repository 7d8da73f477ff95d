import numpy as np
import pytest

from synfaith.data import Instance
from synfaith.explainers import EXPLAINERS, AttributionError, Oracle, Random, ReverseOracle, get_explainer


def test_registry():
    assert {"random", "oracle", "reverse_oracle"} <= set(EXPLAINERS)
    assert isinstance(get_explainer("random", seed=3), Random) and get_explainer("random", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown explainer 'lime'"):
        get_explainer("lime")


def test_random_is_seeded_per_instance(adapters, arch, yes_no_instance, choice_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    target = adapter.make_target(prepared, "Y")
    a = Random(seed=0).explain(adapter, prepared, target)
    b = Random(seed=0).explain(adapter, prepared, target)
    c = Random(seed=1).explain(adapter, prepared, target)
    np.testing.assert_array_equal(a.image_scores, b.image_scores)
    assert not np.array_equal(a.image_scores, c.image_scores)
    assert a.image_scores.shape == (prepared.n_image_units,) and a.text_scores.shape == (prepared.n_text_units,)
    assert a.explainer == "random" and a.seconds >= 0 and a.model_calls == 0
    other = adapter.prepare(choice_instance)
    assert not np.array_equal(Random(seed=0).explain(adapter, other, target).text_scores[:5], a.text_scores[:5])


def test_oracle_ranks_planted_units_first_and_reverse_last(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    target = adapter.make_target(prepared, "Y")
    oracle = Oracle().explain(adapter, prepared, target)
    reverse = ReverseOracle().explain(adapter, prepared, target)
    coverage, words = adapter.ground_truth_units(prepared)
    np.testing.assert_array_equal(oracle.image_scores, coverage)
    np.testing.assert_array_equal(reverse.text_scores, -words.astype(float))
    assert oracle.image_scores[prepared.unit_grid[0, 0]] == oracle.image_scores.max()


def test_oracle_needs_ground_truth_and_rejects_flat_scores(adapters, yes_no_instance):
    adapter = adapters["llava"]
    bare = Instance("bare", yes_no_instance.image, yes_no_instance.question)
    prepared = adapter.prepare(bare)
    target = adapter.make_target(prepared, "Y")
    with pytest.raises(ValueError, match="needs planted ground truth"):
        Oracle().explain(adapter, prepared, target)
    from synfaith.data import GroundTruth

    no_evidence = Instance("none", yes_no_instance.image, yes_no_instance.question, ground_truth=GroundTruth(words=("red",)))
    with pytest.raises(AttributionError, match="all 16 visual scores are equal"):
        Oracle().explain(adapter, adapter.prepare(no_evidence), target)
