"""The contract kit on the tiny twin of every family beyond the paper's three.

Each family in :func:`synfaith.testing.twins.families` (one recipe module in
``synfaith.testing.families`` and one adapter module in ``synfaith.models``) must: build offline;
be picked by ``load_model(dir)``; pass :func:`check_adapter` (units, text units = the question's
tokens, exact pixel masking, batched = one-at-a-time to 1e-5, F_syn ≤ 6K + 2 evaluations,
gradients to pixels and embeddings); and run every explainer its declared capabilities allow,
while the others are refused with the capability they lack. Family-specific layout checks live
in ``tests/models/families/test_<family>.py``.
"""

import pytest

from synfaith.contracts import missing_capabilities
from synfaith.explainers import get_explainer
from synfaith.explainers.registry import EXPLAINERS
from synfaith.models import load_model
from synfaith.models.registry import ADAPTERS
from synfaith.testing import build_twin, check_adapter, check_explainer
from synfaith.testing.twins import TWIN_RECIPES, families

# small budgets: the kit checks that an explainer runs and is deterministic, not its quality
FAST_OPTIONS = {
    "integrated_gradients": {"steps": 4},
    "llava_cam": {"n_samples": 2},
    "multishap": {"budget": 128, "max_visual_players": 8, "max_text_players": 4},
    "fsyn_search": {"pool": 8, "beam_width": 1, "max_evaluations": 256},
}
SKIPPED = {"precomputed"}  # reads maps from files: covered by its own tests on every model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def family_adapters(tmp_path_factory):
    root = tmp_path_factory.mktemp("family-twins")
    return {arch: load_model(build_twin(arch, root / arch, seed=0)) for arch in families()}


def test_at_least_eight_more_families_have_twins_and_adapters():
    assert len(families()) >= 8, families()
    for arch in families():
        assert arch in ADAPTERS, f"{arch} has a twin but no registered adapter"
        assert TWIN_RECIPES[arch].twin_of


@pytest.mark.parametrize("arch", families())
def test_load_model_picks_the_registered_adapter(family_adapters, arch):
    adapter = family_adapters[arch]
    assert type(adapter) is ADAPTERS[arch]
    assert arch in type(adapter).model_types


@pytest.mark.parametrize("arch", families())
def test_the_adapter_kit_passes(family_adapters, arch):
    report = check_adapter(family_adapters[arch])
    assert "pixel_masking" in report.checks and "fsyn_cost" in report.checks
    assert "white_box_gradients" in report.checks


@pytest.mark.parametrize("arch", families())
def test_every_declared_explainer_runs_and_the_others_are_refused(family_adapters, arch):
    adapter = family_adapters[arch]
    ran, refused = [], {}
    for name in EXPLAINERS.names():
        if name in SKIPPED:
            continue
        explainer_class = EXPLAINERS[name]
        missing = missing_capabilities(explainer_class.requires, adapter.capabilities)
        if missing:
            refused[name] = missing
            with pytest.raises(AssertionError, match=f"requires .*{missing[0]}"):
                check_explainer(get_explainer(name, **FAST_OPTIONS.get(name, {})), adapter)
            continue
        report = check_explainer(get_explainer(name, **FAST_OPTIONS.get(name, {})), adapter)
        assert "deterministic" in report.checks
        ran.append(name)
    assert {"random", "input_gradients", "multishap"} <= set(ran), (ran, refused)
