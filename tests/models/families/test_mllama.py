"""Llama-3.2-Vision (mllama): cross-attention, tiles of patch cells, on the tiny twin of Llama-3.2-11B-Vision-Instruct."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.mllama.image_processing_mllama import get_optimal_tiled_canvas

from synfaith.models import load_model
from synfaith.models.mllama import REAL_MAX_IMAGE_TILES, MllamaAdapter, MllamaTiledProcessor
from synfaith.models.prefix import prefix_length
from synfaith.models.processors import load_processor
from synfaith.testing.families.mllama import SPEC

from ._anyres_checks import QUESTION, instance
from ._anyres_checks import coordinate_instance as ramps
from ._common import family_fixtures, insertion_coalitions

TILE, PATCH = SPEC["tile_size"], SPEC["patch_size"]
G = TILE // PATCH


_one_torch_thread, twin, adapter = family_fixtures("mllama", prefix_cache=False)


def _canvas(size, max_tiles=4):
    height, width = get_optimal_tiled_canvas(size[1], size[0], max_tiles, TILE)
    return height // TILE, width // TILE


@pytest.mark.parametrize("size", [(64, 64), (100, 40), (40, 100), (20, 20), (90, 70)])
def test_units_are_the_patch_cells_of_the_images_tiles(adapter, size):
    prepared = adapter.prepare(instance(size))
    rows, cols = _canvas(size)
    valid = rows * cols
    assert prepared.pixels.clean.shape == (1, 1, 4, 3, TILE, TILE)  # always the model's 4 tiles
    assert prepared.n_image_units == valid * G * G
    assert prepared.layout.visual_positions.numel() == 0  # the image is not in the sequence
    per_tile = G * G + 1  # cross-attention states per tile: the class token, then the patches
    units = prepared.token_units
    assert units.shape == (4 * per_tile, prepared.n_image_units)
    for t in range(4):
        tile_rows = units[t * per_tile : (t + 1) * per_tile]
        if t >= valid:
            assert tile_rows.abs().sum() == 0  # padding tiles: no unit
            continue
        cells = slice(t * G * G, (t + 1) * G * G)
        assert torch.allclose(tile_rows[0, cells], torch.full((G * G,), 1 / (G * G))) and tile_rows[0].sum() == pytest.approx(1)
        assert torch.equal(tile_rows[1:, cells], torch.eye(G * G)) and tile_rows[1:].sum() == G * G
    index = prepared.pixels.unit_index[0, 0, :, 0]  # [tiles, S, S]
    cell = (torch.arange(TILE) // PATCH)[:, None] * G + (torch.arange(TILE) // PATCH)[None, :]
    for t in range(4):
        expected = t * G * G + cell if t < valid else torch.full_like(cell, -1)  # padding tiles: no unit
        assert torch.equal(index[t], expected), t
    grid = prepared.unit_grid
    assert grid.shape == (rows * G, cols * G)
    assert sorted(grid.ravel().tolist()) == list(range(prepared.n_image_units))


def test_the_sequence_holds_the_question_after_one_image_marker(adapter):
    prepared = adapter.prepare(instance((64, 64)))
    ids = prepared.layout.input_ids
    tok = adapter.tokenizer
    image_id = tok.convert_tokens_to_ids("<|image|>")
    assert (ids == image_id).sum() == 1 and int(ids[0]) == tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert (ids == ids[0]).sum() == 1  # the template's <|begin_of_text|> is not doubled
    marker = int(torch.nonzero(ids == image_id))
    assert prefix_length(prepared) == marker + 1 == int(prepared.layout.query_positions.min())
    assert tok.decode(ids[prepared.layout.query_positions]) == QUESTION
    mask = prepared.image_inputs["cross_attention_mask"][0, :, 0]  # [L, tiles]: who cross-attends to which tile
    assert mask[:marker].sum() == 0 and bool((mask[marker:, :4] == 1).all())


def test_tiles_are_row_major_over_the_canvas(adapter):
    prepared = adapter.prepare(ramps((64, 64)))  # a 2×2 canvas
    red, green = prepared.pixels.clean[0, 0, :, 0].mean((-1, -2)), prepared.pixels.clean[0, 0, :, 1].mean((-1, -2))
    assert red[1] > red[0] and red[3] > red[2] and green[2] > green[0] and green[3] > green[1]
    assert torch.allclose(red[0], red[2], atol=0.05) and torch.allclose(green[0], green[1], atol=0.05)
    assert prepared.unit_grid[0, G] == G * G and prepared.unit_grid[G, 0] == 2 * G * G


@pytest.mark.parametrize("size", [(64, 64), (100, 40)])
def test_masking_a_unit_changes_exactly_its_pixels_in_every_tile(adapter, size):
    prepared = adapter.prepare(instance(size))
    pixels, m = prepared.pixels, prepared.n_image_units
    index = pixels.unit_index.expand_as(pixels.clean)
    keep = ~np.eye(m, dtype=bool)
    variants = pixels.masked(keep).reshape(m, *pixels.clean.shape)
    for k in range(m):
        inside = index == k
        assert inside.sum() == 3 * PATCH * PATCH  # one 14-px cell, every channel
        assert torch.equal(variants[k][~inside], pixels.clean[~inside])
        assert torch.equal(variants[k][inside], pixels.blurred[inside])
    padding = index == -1
    assert torch.equal(pixels.masked(np.zeros((1, m), bool))[0][padding[0]], pixels.clean[0][padding[0]])


def test_the_image_reaches_the_answer_through_cross_attention(adapter):
    prepared = adapter.prepare(instance((64, 64)))
    target = adapter.make_target(prepared, "a b c")
    m, n = prepared.n_image_units, prepared.n_text_units
    values = adapter.target_probabilities(prepared, target, np.array([np.ones(m, bool), np.zeros(m, bool)]), np.ones((2, n), bool))
    # random weights: a weak but real effect, far above float rounding (~1e-7 relative)
    assert abs(values[0] - values[1]) > 1e-5 * values[0]
    with torch.enable_grad():
        pixels = prepared.pixels.clean.clone().requires_grad_()
        embeds, ids = adapter.embedded_inputs(prepared, target, pixel_values=pixels)
        assert embeds.shape[1] == ids.shape[1] + 4 * (G * G + 1)  # tokens, then the cross-attention states
        from synfaith.models.base import answer_log_prob

        answer_log_prob(adapter.forward_embeddings(embeds, ids, prepared).logits, target).sum().backward()
    per_unit = prepared.pixels.unit_sums(pixels.grad.abs())
    assert (per_unit > 0).all()


def test_input_gradients_pool_the_cross_attention_states_onto_units(adapter):
    from synfaith.explainers import get_explainer
    from synfaith.explainers.white_box import embedding_relevance

    prepared = adapter.prepare(instance((100, 40)))  # 3 tiles and a padding tile
    target = adapter.make_target(prepared, "a b c")
    relevance, _ = embedding_relevance(adapter, prepared, target)
    per_tile, n_states = G * G + 1, 4 * (G * G + 1)
    states = relevance[-n_states:].double()
    expected = np.concatenate(
        [(states[t * per_tile + 1 : (t + 1) * per_tile] + states[t * per_tile] / (G * G)).numpy() for t in range(3)]
    )
    scores = get_explainer("input_gradients").explain(adapter, prepared, target)
    np.testing.assert_allclose(scores.image_scores, expected, rtol=1e-6, atol=1e-12)
    assert np.ptp(scores.image_scores) > 0
    n_tokens = relevance.numel() - n_states
    np.testing.assert_allclose(scores.text_scores, relevance[prepared.layout.query_positions].double().numpy(), rtol=1e-6)
    assert n_tokens == adapter.sequence_ids(prepared, target).numel()


@pytest.mark.parametrize("size", [(64, 64), (100, 40)])
def test_prefix_sharing_on_and_off_agree(twin, adapter, size):
    shared = load_model(twin, prefix_cache=True)
    prepared = adapter.prepare(instance(size))
    target = adapter.make_target(prepared, "a b c")
    assert target.answer_ids.numel() >= 3
    image_keep, text_keep = insertion_coalitions(prepared.n_image_units, prepared.n_text_units)
    on = shared.target_probabilities(prepared, target, image_keep, text_keep)
    off = adapter.target_probabilities(prepared, target, image_keep, text_keep)
    np.testing.assert_allclose(on, off, rtol=1e-5, atol=0)
    assert len(np.unique(image_keep, axis=0)) < len(image_keep)  # masks shared by several coalitions
    assert len(np.unique(on)) > len(on) // 2


def test_the_processor_loads_without_torchvision(twin, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # any import of torchvision now raises
    processor = load_processor(twin)
    assert isinstance(processor, MllamaTiledProcessor)
    assert type(processor.image_processor).__name__ == "MllamaImageProcessor"
    assert processor.image_processor.size == {"height": TILE, "width": TILE} and processor.image_processor.max_image_tiles == 4
    out = processor(images=Image.new("RGB", (50, 30)), text="<|image|>hi", return_tensors="pt")
    assert out["pixel_values"].shape == (1, 1, 4, 3, TILE, TILE)
    saved = " ".join(path.read_text() for path in twin.glob("*.json"))
    assert "MllamaTiledProcessor" not in saved  # the directory names the stock classes only


def test_the_default_cap_is_the_real_four_tiles(twin, adapter):
    assert REAL_MAX_IMAGE_TILES == 4 and adapter.max_image_tiles == 4
    assert adapter.image_processor_kwargs() == {"max_image_tiles": 4}
    assert MllamaAdapter.capabilities == frozenset({"game", "white_box"})
    with pytest.raises(ValueError, match="max_image_tiles"):
        load_model(twin, max_image_tiles=5)


def test_a_lower_cap_limits_the_canvas_and_keeps_the_models_layout(twin, adapter):
    capped = load_model(twin, max_image_tiles=2)
    assert _canvas((100, 40), max_tiles=2) == (1, 2) and _canvas((100, 40)) == (1, 3)
    prepared = capped.prepare(instance((100, 40)))
    assert prepared.n_image_units == 2 * G * G and prepared.unit_grid.shape == (G, 2 * G)
    assert prepared.pixels.clean.shape == (1, 1, 4, 3, TILE, TILE)
    assert prepared.image_inputs["aspect_ratio_mask"].tolist() == [[[1, 1, 0, 0]]]
    # aspect-ratio ids index the model's 4-tile ratios: (2 rows, 1 col) is id 5 there, 3 among 2-tile ones
    assert capped.prepare(instance((40, 100))).image_inputs["aspect_ratio_ids"].tolist() == [[5]]
    target = capped.make_target(prepared, "a b c")
    value = capped.game(prepared, target).value(np.ones(prepared.n_image_units, bool), np.ones(prepared.n_text_units, bool))
    ids = capped.sequence_ids(prepared, target)[None]
    with torch.inference_mode():  # the model's own forward pass on the repacked inputs
        logits = capped.model(input_ids=ids, pixel_values=prepared.pixels.clean, **capped.image_inputs_for(prepared, ids.shape[1])).logits
    from synfaith.models.base import answer_log_prob

    assert value == pytest.approx(float(torch.exp(answer_log_prob(logits, target))[0]), rel=1e-5)
    one = load_model(twin, max_image_tiles=1).prepare(instance((64, 64)))
    assert one.n_image_units == G * G and one.unit_grid.shape == (G, G)


def test_a_run_refusing_an_image_token_explainer_says_why(twin, tmp_path):
    from synfaith.runs import parse_config

    for name in ("tam", "gradcam", "rollout"):
        with pytest.raises(ValueError) as error:
            parse_config({
                "output_dir": str(tmp_path),
                "models": [{"path": str(twin), "name": "mllama", "device": "cpu"}],
                "datasets": [{"kind": "synthetic", "limit": 1}],
                "explainers": [{"name": name}],
            })
        message = str(error.value)
        assert f"explainer {name!r} needs" in message and "image_tokens access" in message, message
        assert "cross-attention model such as mllama keeps the image outside the sequence" in message
        line = [part for part in message.splitlines() if "needs" in part]
        assert len(line) == 1
