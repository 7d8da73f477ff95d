"""Every explainer on every tiny twin and on the toy VLM: shapes, determinism, cost records, no leaks."""

import gc

import numpy as np
import pytest
import torch

from synfaith.explainers import EXPLAINERS, get_explainer
from synfaith.models import load_model
from synfaith.testing import check_explainer
from synfaith.toy import default_checkpoint
from tests.conftest import greedy_target

MODEL_FREE = {"random", "oracle", "reverse_oracle"}
NEEDS_FILES = {"precomputed"}  # reads the user's map files: tests/explainers/test_precomputed.py


def live_tensor_bytes() -> int:
    """Bytes held by every tensor the garbage collector can see (results' numpy arrays never pin one)."""
    gc.collect()
    total = 0
    for obj in gc.get_objects():
        try:
            if isinstance(obj, torch.Tensor):
                total += obj.numel() * obj.element_size()
        except ReferenceError:
            pass
    return total


@pytest.fixture(scope="module")
def toy_adapter():
    return load_model(str(default_checkpoint()))


@pytest.fixture(params=["toy", "llava", "qwen2_5_vl", "internvl"])
def model_and_input(request, adapters, toy_adapter, yes_no_instance):
    from synfaith.data.synthetic import synthetic_instances

    if request.param == "toy":
        instance = next(i for i in synthetic_instances(2, split="test", subsets=("synergy",)) if i.answer == "yes")
        adapter = toy_adapter
        prepared = adapter.prepare(instance)
        return request.param, adapter, prepared, adapter.generate_target(prepared)
    adapter = adapters[request.param]
    prepared = adapter.prepare(yes_no_instance)
    return request.param, adapter, prepared, greedy_target(adapter, prepared)


@pytest.mark.parametrize("name", sorted(set(EXPLAINERS) - NEEDS_FILES))
def test_every_explainer_runs_is_deterministic_and_releases_memory(model_and_input, name):
    model_name, adapter, prepared, target = model_and_input
    explainer = get_explainer(name)
    explainer.explain(adapter, prepared, target)  # warm-up: lazy imports, caches, allocator pools
    before = live_tensor_bytes()
    first = explainer.explain(adapter, prepared, target)
    middle = live_tensor_bytes()
    second = explainer.explain(adapter, prepared, target)
    after = live_tensor_bytes()
    assert first.image_scores.shape == (prepared.n_image_units,)
    assert first.text_scores.shape == (prepared.n_text_units,)
    assert np.isfinite(first.image_scores).all() and np.isfinite(first.text_scores).all()
    np.testing.assert_array_equal(first.image_scores, second.image_scores)
    np.testing.assert_array_equal(first.text_scores, second.text_scores)
    assert first.explainer == name and first.seconds > 0
    assert first.model_calls == second.model_calls
    assert (first.model_calls == 0) == (name in MODEL_FREE)
    assert after == middle, f"{name} on {model_name}: live tensors grew by {after - middle} bytes on a repeat run"
    assert middle <= before, f"{name} on {model_name}: live tensors grew by {middle - before} bytes"
    # the contract kit anyone adding an explainer runs: every built-in passes on every adapter it supports
    report = check_explainer(explainer, adapter, instance=prepared.instance)
    assert "deterministic" in report.checks
