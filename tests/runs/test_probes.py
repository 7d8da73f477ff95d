"""Influence and stability probes on the toy VLM's synergy instances."""

import numpy as np
import pytest

from synfaith.data.synthetic import synthetic_instances
from synfaith.explainers import get_explainer
from synfaith.models import load_model
from synfaith.toy import default_checkpoint
from synfaith.runs.probes import influence_probe, keeps_answer, stability_probe


@pytest.fixture(scope="module")
def toy():
    adapter = load_model(str(default_checkpoint()))
    inputs = []
    for instance in synthetic_instances(2, split="test", subsets=("synergy",))[:4]:
        prepared = adapter.prepare(instance)
        inputs.append((prepared, adapter.generate_target(prepared)))
    return adapter, inputs


def probe(toy, name):
    adapter, inputs = toy
    explainer = get_explainer(name)
    influence, stability = [], []
    for prepared, target in inputs:
        attribution = explainer.explain(adapter, prepared, target)
        result = influence_probe(adapter, explainer, prepared, target, attribution)
        influence.append((result.text_without_image, result.image_without_text))
        stable = stability_probe(adapter, explainer, prepared, target, attribution, sigma=0.02, draws=2, top_fraction=0.1, seed=0)
        assert stable.draws == 2
        stability.append((stable.spearman, stable.top_k_overlap))
    return np.array(influence), np.array(stability)


def test_an_explainer_that_ignores_its_input_has_no_influence_and_full_stability(toy):
    influence, stability = probe(toy, "random")
    np.testing.assert_array_equal(influence, 0.0)
    np.testing.assert_array_equal(stability, 1.0)


def test_gradients_depend_on_the_other_modality_and_move_under_noise(toy):
    influence, stability = probe(toy, "input_gradients")
    assert (influence > 0).all(), influence
    assert stability[:, 0].mean() < 1.0, stability


def test_modified_inputs(toy):
    adapter, inputs = toy
    prepared, target = inputs[0]
    blank = adapter.modified(prepared, image_zero_state=True)
    assert (blank.pixels.clean == prepared.pixels.blurred).all() and (blank.pixels.blurred == prepared.pixels.blurred).all()
    masked = adapter.modified(prepared, masked_text_units=[0, 2])
    changed = (masked.layout.input_ids != prepared.layout.input_ids).nonzero().flatten().tolist()
    assert changed == prepared.layout.query_positions[[0, 2]].tolist()
    assert (masked.layout.input_ids[changed] == adapter.pad_token_id).all()
    noisy = adapter.modified(prepared, pixel_noise=0.02, seed=1)
    difference = (noisy.pixels.clean - prepared.pixels.clean).abs()
    assert 0 < difference.mean() < 0.2 and (noisy.pixels.clean == adapter.modified(prepared, pixel_noise=0.02, seed=1).pixels.clean).all()
    assert keeps_answer(adapter, prepared, target)
