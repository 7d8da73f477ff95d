import numpy as np
import pytest
import torch

from synfaith.explainers import InputGradients, get_explainer
from synfaith.explainers.white_box import answer_log_prob
from synfaith.models import load_model


@pytest.fixture
def double_twin(twin_dirs, arch):
    adapter = load_model(twin_dirs[arch], dtype=torch.float64)
    return adapter


def test_input_gradients_match_finite_differences(double_twin, choice_instance):
    """Σ_{i∈S} x_i·∇_i f equals the derivative of f when the embeddings of S are scaled by 1 + ε.

    Checked on the image tokens and on the query tokens as groups: single positions of a random
    twin move f by less than the float32 precision that Llama's RMSNorm computes in.
    """
    adapter = double_twin
    prepared = adapter.prepare(choice_instance)
    target = adapter.make_target(prepared, "B")
    relevance = InputGradients().explain(adapter, prepared, target).raw["token_relevance"].astype(np.float64)
    with torch.no_grad():
        embeds, input_ids = adapter.embedded_inputs(prepared, target)

        def score(positions, factor: float) -> float:
            changed = embeds.clone()
            changed[0, positions] *= factor
            return answer_log_prob(adapter.forward_embeddings(changed, input_ids, prepared).logits, target).item()

        eps = 1e-3
        for positions in (prepared.layout.visual_positions, prepared.layout.query_positions):
            finite_difference = (score(positions, 1 + eps) - score(positions, 1 - eps)) / (2 * eps)
            assert relevance[positions.numpy()].sum() == pytest.approx(finite_difference, rel=0.02)


def test_input_gradients_shapes_and_registry(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    attribution = get_explainer("input_gradients").explain(adapter, prepared, adapter.make_target(prepared, "Y"))
    assert attribution.image_scores.shape == (prepared.n_image_units,)
    assert attribution.text_scores.shape == (prepared.n_text_units,)
    assert np.isfinite(attribution.image_scores).all() and attribution.model_calls == 1
    again = get_explainer("input_gradients").explain(adapter, prepared, adapter.make_target(prepared, "Y"))
    np.testing.assert_array_equal(attribution.image_scores, again.image_scores)
