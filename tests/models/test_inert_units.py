"""Inert units on the toy VLM: units whose masking changes no model input are one coalition."""

import numpy as np
import pytest

from synfaith.data.synthetic import synthetic_instances
from synfaith.models import load_model
from synfaith.toy import default_checkpoint


@pytest.fixture(scope="module")
def toy():
    return load_model(default_checkpoint(), batch_size=64)


@pytest.fixture(scope="module")
def instance(toy):
    # the first test instance whose image has flat background patches the blur leaves as they are
    for candidate in synthetic_instances(6, split="test"):
        prepared = toy.prepare(candidate)
        if prepared.pixels.unchanged_units().any():
            return prepared, toy.generate_target(prepared)
    raise AssertionError("no synthetic instance has an inert visual unit")


def test_an_inert_visual_unit_changes_no_pixel_when_masked(instance):
    prepared, _ = instance
    inert = prepared.pixels.unchanged_units()
    assert 0 < inert.sum() < inert.size
    unit = int(np.flatnonzero(inert)[0])
    keep = np.ones((2, inert.size), bool)
    keep[1, unit] = False
    pixels = prepared.pixels.masked(keep).reshape(2, *prepared.pixels.clean.shape)
    assert (pixels[0] == pixels[1]).all()
    live = int(np.flatnonzero(~inert)[0])
    keep[1, live] = False
    pixels = prepared.pixels.masked(keep).reshape(2, *prepared.pixels.clean.shape)
    assert not (pixels[0] == pixels[1]).all()


def test_the_toy_game_declares_them_and_its_values_are_the_uncollapsed_ones(toy, instance):
    prepared, target = instance
    game = toy.game(prepared, target)
    inert = prepared.pixels.unchanged_units()
    np.testing.assert_array_equal(game.inert_image, inert)
    assert not game.inert_text.any()  # no query token is the pad token
    rng = np.random.default_rng(0)
    image, text = rng.random((96, game.n_image)) < 0.5, rng.random((96, game.n_text)) < 0.5
    collapsed = game.values(image, text)
    plain = toy.game(prepared, target)
    plain.declare_inert(np.zeros(game.n_image, bool), np.zeros(game.n_text, bool))
    np.testing.assert_allclose(collapsed, plain.values(image, text), rtol=1e-5, atol=1e-7)
    flipped = image.copy()
    flipped[:, inert] = ~flipped[:, inert]
    before = game.evaluations
    np.testing.assert_array_equal(game.values(flipped, text), collapsed)  # the same coalitions: cached
    assert game.evaluations == before
    assert game.distinct_coalitions(image, text) < plain.distinct_coalitions(np.concatenate([image, flipped]), np.concatenate([text, text]))


def test_the_influence_copies_make_a_whole_modality_inert(toy, instance):
    prepared, target = instance
    without_image = toy.game(toy.modified(prepared, image_zero_state=True), target)
    assert without_image.inert_image.all() and not without_image.inert_text.any()
    without_text = toy.game(toy.modified(prepared, masked_text_units=range(prepared.n_text_units)), target)
    assert without_text.inert_text.all()
    # on the image-free copy every image mask is one coalition: the value is the text mask's alone
    rng = np.random.default_rng(1)
    text = rng.random((8, prepared.n_text_units)) < 0.5
    values = without_image.values(rng.random((8, prepared.n_image_units)) < 0.5, text)
    np.testing.assert_array_equal(values, without_image.values(np.ones((8, prepared.n_image_units), bool), text))
    assert without_image.evaluations == len({row.tobytes() for row in text})


def test_rows_record_the_inert_units_of_their_instance(toy):
    from synfaith.explainers.registry import get_explainer
    from synfaith.runs.pipeline import MetricPlan, score_instance

    instance = next(i for i in synthetic_instances(6, split="test") if toy.prepare(i).pixels.unchanged_units().any())
    [row] = score_instance(toy, instance, explainers={"random": get_explainer("random")}, plan=MetricPlan.build(["fsyn"], {"steps": 3}))
    assert row["status"] == "ok"
    assert row["inert_image_units"] == int(toy.prepare(instance).pixels.unchanged_units().sum()) > 0
    assert row["inert_text_units"] == 0
