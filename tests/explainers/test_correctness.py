"""Correctness beyond shapes: completeness, stochastic rollout, LRP conservation and isolation,
model randomization, MultiSHAP against exact SII, TAM's filter, CAM layers."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from synfaith.data.synthetic import synthetic_instances
from synfaith.explainers import EXPLAINERS, get_explainer
from synfaith.explainers.attention import _attention_pass, rollout
from synfaith.explainers.cam import resolve_layer
from synfaith.explainers.multishap import MultiSHAP, consecutive_groups, grid_blocks
from synfaith.explainers.tam import rank_gaussian_filter
from synfaith.explainers.white_box import answer_log_prob, answer_logit
from synfaith.games.players import PlayerGame
from synfaith.models import load_model
from synfaith.toy import default_checkpoint
from tests.conftest import greedy_target


@pytest.fixture(scope="module")
def toy_adapter():
    return load_model(str(default_checkpoint()))


@pytest.fixture(scope="module")
def toy_inputs(toy_adapter):
    inputs = []
    for instance in synthetic_instances(2, split="test", subsets=("synergy",))[:6]:
        prepared = toy_adapter.prepare(instance)
        inputs.append((prepared, toy_adapter.generate_target(prepared)))
    return inputs


def test_integrated_gradients_completeness(twin_dirs, arch, yes_no_instance):
    """Σ IG = log p(x) − log p(baseline), baseline = black image + pad embeddings at the query tokens."""
    adapter = load_model(twin_dirs[arch], dtype=torch.float64)
    prepared = adapter.prepare(yes_no_instance)
    target = greedy_target(adapter, prepared)
    attribution = get_explainer("integrated_gradients", steps=64, method="gausslegendre").explain(adapter, prepared, target)
    with torch.no_grad():
        clean_embeds, ids = adapter.embedded_inputs(prepared, target)
        black, _ = adapter.pixel_extremes(prepared)
        baseline_embeds, _ = adapter.embedded_inputs(prepared, target, black.double())
        pad = adapter.model.get_input_embeddings()(torch.tensor([adapter.pad_token_id]))
        baseline_embeds[0, prepared.layout.query_positions] = pad
        difference = (
            answer_log_prob(adapter.forward_embeddings(clean_embeds, ids, prepared).logits, target)
            - answer_log_prob(adapter.forward_embeddings(baseline_embeds, ids, prepared).logits, target)
        ).item()
    total = attribution.image_scores.sum() + attribution.text_scores.sum()
    assert abs(difference) > 1e-3  # the check is not vacuous
    assert total == pytest.approx(difference, rel=0.01, abs=1e-4)
    assert attribution.model_calls == 64 + 2  # the path, then inputs and baselines for the delta


def test_rollout_rows_are_stochastic(adapters, arch, yes_no_instance):
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    attentions, _, length = _attention_pass(adapter, prepared, greedy_target(adapter, prepared), with_gradients=False)
    for attention in attentions:
        np.testing.assert_allclose(attention.sum(-1).numpy(), 1.0, atol=1e-5)
    flow = rollout(attentions).numpy()
    assert flow.shape == (length, length) and (flow >= 0).all()
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.triu(flow, 1), 0.0)  # causal: no flow from later positions
    relevance = get_explainer("rollout").explain(adapter, prepared, greedy_target(adapter, prepared)).raw["token_relevance"]
    assert relevance.sum() == pytest.approx(1.0, abs=1e-5)
    assert adapter.model.config._attn_implementation != "eager"  # restored after the call


def test_attnlrp_approximately_conserves_the_logit(toy_adapter, toy_inputs):
    """Σ_i R_i over the LM's inputs against the answer logit; only attention's softmax absorbs relevance."""
    ratios = []
    for prepared, target in toy_inputs:
        attribution = get_explainer("attnlrp").explain(toy_adapter, prepared, target)
        ratios.append(attribution.raw["token_relevance"].sum() / attribution.raw["target_logit"])
    ratios = np.array(ratios)
    assert ((ratios > 0.5) & (ratios < 1.05)).all(), ratios
    assert 0.65 < ratios.mean() < 1.0


def test_cp_lrp_conserves_the_logit_exactly(toy_adapter, toy_inputs):
    """With softmax and gate detached, a bias-free LM is exactly conservative: every block has its rule."""
    for prepared, target in toy_inputs:
        attribution = get_explainer("attnlrp", variant="cp").explain(toy_adapter, prepared, target)
        assert attribution.raw["token_relevance"].sum() == pytest.approx(attribution.raw["target_logit"], rel=1e-4)


def test_attnlrp_leaves_other_explainers_gradients_unchanged(adapters, arch, yes_no_instance):
    from transformers.models.llama import modeling_llama
    from transformers.models.qwen2 import modeling_qwen2

    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    target = greedy_target(adapter, prepared)
    originals = (
        modeling_llama.LlamaRMSNorm.__dict__["forward"],
        modeling_llama.eager_attention_forward,
        modeling_llama.ALL_ATTENTION_FUNCTIONS,
        modeling_qwen2.Qwen2MLP.__dict__["forward"],
    )
    others = ("input_gradients", "grad_rollout", "integrated_gradients", "gradcam")
    before = {name: get_explainer(name).explain(adapter, prepared, target) for name in others}
    lrp = get_explainer("attnlrp").explain(adapter, prepared, target)
    plain = get_explainer("input_gradients").explain(adapter, prepared, target)
    assert not np.allclose(lrp.image_scores, plain.image_scores)  # the rules were in force
    for name, attribution in before.items():
        again = get_explainer(name).explain(adapter, prepared, target)
        np.testing.assert_array_equal(attribution.image_scores, again.image_scores, err_msg=name)
        np.testing.assert_array_equal(attribution.text_scores, again.text_scores, err_msg=name)
    assert originals == (
        modeling_llama.LlamaRMSNorm.__dict__["forward"],
        modeling_llama.eager_attention_forward,
        modeling_llama.ALL_ATTENTION_FUNCTIONS,
        modeling_qwen2.Qwen2MLP.__dict__["forward"],
    )


def test_attnlrp_vision_gamma_reaches_pixels(adapters, arch, yes_no_instance):
    """With the stabilised γ-rule the twins' vision towers give finite pixel relevance (NaN would be rejected)."""
    adapter = adapters[arch]
    prepared = adapter.prepare(yes_no_instance)
    target = greedy_target(adapter, prepared)
    attribution = get_explainer("attnlrp", vision_gamma=0.25).explain(adapter, prepared, target)
    assert attribution.raw["vision_gamma"] == 0.25
    default = get_explainer("attnlrp").explain(adapter, prepared, target)
    np.testing.assert_allclose(attribution.text_scores, default.text_scores, rtol=1e-3, atol=1e-6)
    assert not np.allclose(attribution.image_scores, default.image_scores)
    hooked = [m for m in adapter.model.modules() if m._forward_hooks]
    assert not hooked, "vision LRP hooks were left on the model"


def test_model_randomization_changes_every_model_based_explainer(toy_inputs):
    """Adebayo et al.: re-drawing the weights must change the ranking (Oracle and Random ignore the model)."""
    trained = load_model(str(default_checkpoint()))
    randomized = load_model(str(default_checkpoint()))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in randomized.model.parameters():
            if parameter.ndim >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * parameter.std())

    def rho(a, b) -> float:
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return 0.0  # a flat map shares no ranking
        return spearmanr(a, b)[0]

    for name in sorted(set(EXPLAINERS) - {"random", "oracle", "reverse_oracle", "precomputed"}):  # precomputed: the user's files
        correlations = []
        for prepared, target in toy_inputs[:3]:
            # attribute(): unvalidated, so a flat map of the random model counts as a changed ranking
            a = get_explainer(name).attribute(trained, prepared, target)
            b = get_explainer(name).attribute(randomized, prepared, target)
            image_a, text_a, image_b, text_b = a.image, a.text, b.image, b.text
            correlations.append((rho(image_a, image_b) + rho(text_a, text_b)) / 2)
        assert np.mean(correlations) < 0.8, (name, correlations)


def test_multishap_equals_exact_sii_with_the_full_budget(adapters, yes_no_instance):
    import shapiq

    adapter = adapters["llava"]
    prepared = adapter.prepare(yes_no_instance)
    target = greedy_target(adapter, prepared)
    explainer = MultiSHAP(max_visual_players=2, max_text_players=3, budget=2**5, approximator="kernel")
    game = adapter.game(prepared, target)
    phi, players, n_visual = explainer.interactions(game, prepared)
    assert phi.shape == (2, 3) and n_visual == 2
    exact_values = shapiq.ExactComputer(game=PlayerGame(game, players), n_players=len(players))(index="SII", order=2)
    exact = np.array([[exact_values[(i, 2 + j)] for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(phi, exact, atol=1e-9)
    assert game.evaluations <= 2**5
    # the default sampler converges to the same values, and the cache keeps it at 2**5 model evaluations
    sampled, _, _ = MultiSHAP(max_visual_players=2, max_text_players=3, budget=4000).interactions(game, prepared)
    np.testing.assert_allclose(sampled, exact, atol=0.25 * np.abs(exact).max())
    assert game.evaluations <= 2**5
    attribution = explainer.explain(adapter, prepared, target)
    units = players[0].image_units
    assert attribution.image_scores[list(units)] == pytest.approx(np.abs(phi[0]).sum() / len(units))


def test_multishap_players_cover_every_unit_once():
    grid = np.arange(24 * 24).reshape(24, 24)
    blocks = grid_blocks(grid, 16)
    assert len(blocks) == 16 and sorted(u for b in blocks for u in b) == list(range(576))
    assert {len(b) for b in blocks} == {36}
    runs = consecutive_groups(23, 16)
    assert len(runs) == 16 and [t for r in runs for t in r] == list(range(23))
    assert consecutive_groups(5, 16) == [(0,), (1,), (2,), (3,), (4,)]


def test_rank_gaussian_filter():
    constant = np.full((4, 4), 0.5)
    np.testing.assert_allclose(rank_gaussian_filter(constant), 0.5)
    assert (rank_gaussian_filter(-constant) == 0).all()
    spike = np.zeros((5, 5))
    spike[2, 2] = 1.0
    filtered = rank_gaussian_filter(spike)
    # one bright value among eight zeros: μ = 1/9, σ_w/μ = √8, weights over ranks r ∈ −4..4
    offsets = np.arange(9) - 4
    kernel = np.exp(-(offsets**2) / (2 * 8.0))
    assert filtered[2, 2] == pytest.approx(kernel[-1] / kernel.sum())
    assert filtered[0, 0] == 0.0 and filtered.max() < 0.2  # the isolated spike is suppressed


def test_cam_layers_and_smoothing(toy_adapter, toy_inputs):
    assert len(toy_adapter.language_layers) == 3
    assert resolve_layer(toy_adapter, 7) == 1 and resolve_layer(toy_adapter, 0) == 0 and resolve_layer(toy_adapter, -1) == 1
    with pytest.raises(ValueError, match="out of range"):
        resolve_layer(toy_adapter, -4)
    prepared, target = toy_inputs[0]
    gradcam = get_explainer("gradcam").explain(toy_adapter, prepared, target)
    unsmoothed = get_explainer("llava_cam", n_samples=3, noise_std=0.0).explain(toy_adapter, prepared, target)
    np.testing.assert_allclose(unsmoothed.image_scores, gradcam.image_scores, atol=1e-6)
    smoothed = get_explainer("llava_cam").explain(toy_adapter, prepared, target)
    assert smoothed.model_calls == 50 and not np.allclose(smoothed.image_scores, gradcam.image_scores)
    assert gradcam.raw["layer"] == 1 and gradcam.image_scores.max() == pytest.approx(1.0)


def test_white_box_scalars(toy_adapter, toy_inputs):
    prepared, target = toy_inputs[0]
    with torch.no_grad():
        embeds, ids = toy_adapter.embedded_inputs(prepared, target)
        logits = toy_adapter.forward_embeddings(embeds, ids, prepared).logits
    answer = int(target.answer_ids[-1])
    assert answer_logit(logits, target).item() == pytest.approx(logits[0, -1, answer].item())
    assert np.exp(answer_log_prob(logits, target).item()) == pytest.approx(
        toy_adapter.target_probabilities(prepared, target, np.ones((1, prepared.n_image_units), bool), np.ones((1, prepared.n_text_units), bool))[0],
        rel=1e-5,
    )
