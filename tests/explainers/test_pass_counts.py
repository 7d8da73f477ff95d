"""Every explainer's forward and backward passes are counted by the model and recorded."""

import pytest

from synfaith.explainers import get_explainer
from tests.conftest import greedy_target


@pytest.fixture(scope="module")
def llava(twin_dirs):
    from synfaith.models import load_model

    return load_model(twin_dirs["llava"], batch_size=16, attn_implementation="eager")


def _explain(model, instance, name, **options):
    prepared = model.prepare(instance)
    target = greedy_target(model, prepared)
    explainer = get_explainer(name, **options)
    game = model.game(prepared, target)
    return explainer.explain(model, prepared, target, game=game), game


@pytest.mark.parametrize(
    ("name", "options", "forwards", "backwards"),
    [
        ("input_gradients", {}, 1, 1),
        ("gradcam", {}, 1, 1),
        ("rollout", {}, 1, 0),
        ("grad_rollout", {}, 1, 1),
        ("random", {}, 0, 0),
        # 10 path points, 4 per pass: 10 forward + 10 backward, plus the two end points Captum
        # runs forward (no gradient) for the convergence delta
        ("integrated_gradients", {"steps": 10, "internal_batch_size": 4}, 12, 10),
        ("llava_cam", {"n_samples": 6, "batch_size": 4}, 6, 6),
        ("llava_cam", {"n_samples": 6}, 6, 6),  # 4 per pass from the model's batch of 16
    ],
)
def test_passes_are_counted(llava, yes_no_instance, name, options, forwards, backwards):
    attribution, _ = _explain(llava, yes_no_instance, name, **options)
    assert (attribution.forward_passes, attribution.backward_passes) == (forwards, backwards)


def test_a_game_explainer_counts_the_coalitions_it_ran(llava, yes_no_instance):
    attribution, game = _explain(llava, yes_no_instance, "multishap", budget=256, max_visual_players=4)
    assert attribution.backward_passes == 0
    assert attribution.forward_passes == game.evaluations > 0


def test_game_passes_are_counted_once_with_the_prefix_shared(twin_dirs, yes_no_instance):
    from synfaith.models import load_model

    shared = load_model(twin_dirs["llava"], batch_size=16, prefix_cache=True)
    attribution, game = _explain(shared, yes_no_instance, "multishap", budget=256, max_visual_players=4)
    assert attribution.forward_passes == game.evaluations > 0
