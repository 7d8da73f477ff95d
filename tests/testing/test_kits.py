"""synfaith.testing: the contract-test kits pass on the twins and the toy, and name the check that fails."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from synfaith.contracts import Scores
from synfaith.explainers import get_explainer
from synfaith.explainers.base import Explainer
from synfaith.models import load_model
from synfaith.testing import (
    AdapterReport,
    ExplainerReport,
    build_twin,
    check_adapter,
    check_explainer,
)
from synfaith.testing.twins import ARCHS

try:
    from synfaith.toy import default_checkpoint
except ImportError:  # before the toy package moved out of models/
    from synfaith.models.toy import default_checkpoint

ADAPTER_CHECKS = (
    "prepare",
    "units",
    "text_units",
    "target",
    "clean_value",
    "batched_values",
    "cache",
    "pixel_masking",
    "fsyn_cost",
    "white_box_gradients",
)
EXPLAINERS = {"random": {}, "input_gradients": {}, "multishap": {"budget": 256}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy_adapter():
    return load_model(str(default_checkpoint()))


def test_check_adapter_passes_on_the_twins(adapters, arch):
    report = check_adapter(adapters[arch])
    assert isinstance(report, AdapterReport)
    assert report.checks == ADAPTER_CHECKS
    assert [name for name, _ in report.seconds] == list(ADAPTER_CHECKS)
    assert all(seconds >= 0 for _, seconds in report.seconds) and report.total_seconds >= 0
    assert report.n_image_units >= 1 and report.n_text_units >= 1 and report.answer
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.answer = "changed"  # type: ignore[misc]


def test_check_adapter_passes_on_the_toy(toy_adapter):
    report = check_adapter(toy_adapter)
    assert report.checks == ADAPTER_CHECKS
    assert report.answer in ("yes", "no") and report.notes == ()  # the trained toy answers in format


@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_check_explainer_passes_on_the_twins(adapters, arch, name):
    explainer = get_explainer(name, **EXPLAINERS[name])
    report = check_explainer(explainer, adapters[arch])
    assert isinstance(report, ExplainerReport)
    expected = ("compatible", "prepare", "explain", "shapes", "finite", "cost", "deterministic")
    assert report.checks[: len(expected)] == expected
    assert ("shared_game" in report.checks) == ("game" in explainer.requires)
    assert report.explainer == name and report.explain_seconds >= 0 and report.model_calls >= 0


# -- broken adapters and explainers: the kit names the failed check ---------------------------
def _rebuilt(adapter, cls):
    """``adapter``'s model and processor behind the adapter class ``cls``."""
    return cls(adapter.model, adapter.processor, name=f"broken-{cls.__name__}")


def test_values_above_one_fail_the_clean_value_check(adapters):
    base = type(adapters["llava"])

    class Inflated(base):
        def target_probabilities(self, prepared, target, image_keep, text_keep):
            return super().target_probabilities(prepared, target, image_keep, text_keep) + 1.0

    with pytest.raises(AssertionError, match=r"check 'clean_value' failed .*not a probability in \[0, 1\]"):
        check_adapter(_rebuilt(adapters["llava"], Inflated))


def test_a_template_token_among_the_text_units_fails_the_text_units_check(adapters, arch):
    base = type(adapters[arch])

    class TemplateInQuery(base):
        def prepare(self, instance, *args, **kwargs):
            prepared = super().prepare(instance, *args, **kwargs)
            layout = prepared.layout  # prepend position 0 (<s> / <|im_start|>), a template token
            positions = torch.cat([torch.tensor([0]), layout.query_positions])
            return replace(prepared, layout=replace(layout, query_positions=positions, query_spans=((0, 1), *layout.query_spans)))

    with pytest.raises(AssertionError, match=r"check 'text_units' failed .*template \(special\) token"):
        check_adapter(_rebuilt(adapters[arch], TemplateInQuery))


def test_batched_values_that_differ_fail_the_batched_values_check(adapters):
    base = type(adapters["llava"])

    class BatchDependent(base):
        def target_probabilities(self, prepared, target, image_keep, text_keep):
            values = super().target_probabilities(prepared, target, image_keep, text_keep)
            return values * (0.5 if len(values) > 1 else 1.0)  # the full coalition alone stays exact

    with pytest.raises(AssertionError, match=r"check 'batched_values' failed .*differ beyond rel"):
        check_adapter(_rebuilt(adapters["llava"], BatchDependent))


class _Drifting(Explainer):
    """Scores that change on every call: not deterministic."""

    name = "drifting"
    requires = frozenset()

    def __init__(self) -> None:
        self.calls = 0

    def attribute(self, model, prepared, target):
        self.calls += 1
        rng = np.random.default_rng(self.calls)
        return Scores(rng.random(prepared.n_image_units), rng.random(prepared.n_text_units))


class _NeedsAttentionOf(Explainer):
    name = "needs_nothing_it_gets"
    requires = frozenset({"no_such_capability"})

    def attribute(self, model, prepared, target):  # pragma: no cover - never reached
        raise AssertionError("not called")


class _OwnGame(Explainer):
    """A game-based explainer that ignores the shared game it is given (its own, uncached game)."""

    name = "own_game"
    requires = frozenset({"game"})

    def attribute(self, model, prepared, target, game=None):
        own = model.game(prepared, target)
        full = own.value(np.ones(prepared.n_image_units, bool), np.ones(prepared.n_text_units, bool))
        return Scores(full * np.arange(prepared.n_image_units), full * np.arange(prepared.n_text_units), model_calls=own.calls)


def test_an_explainer_ignoring_the_shared_game_fails_the_shared_game_check(adapters):
    with pytest.raises(AssertionError, match=r"check 'shared_game' failed .*evaluated nothing through the game"):
        check_explainer(_OwnGame(), adapters["llava"])


def test_a_drifting_explainer_fails_the_deterministic_check(adapters):
    with pytest.raises(AssertionError, match=r"check 'deterministic' failed for explainer drifting"):
        check_explainer(_Drifting(), adapters["llava"])


def test_an_explainer_needing_a_missing_capability_fails_the_compatible_check(adapters):
    with pytest.raises(AssertionError, match=r"check 'compatible' failed .*no_such_capability"):
        check_explainer(_NeedsAttentionOf(), adapters["llava"])


# -- the package itself -------------------------------------------------------------------------
def test_the_package_imports_alone_without_pytest_or_torch():
    code = (
        "import sys\n"
        "import synfaith.testing as t\n"
        "assert callable(t.check_adapter) and callable(t.check_explainer)\n"
        "assert 'pytest' not in sys.modules, 'pytest imported'\n"
        "assert 'torch' not in sys.modules, 'torch imported by the kits'\n"
        "from synfaith.testing import build_twin\n"
        "assert 'pytest' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_build_twin_is_deterministic_and_the_old_alias_matches(tmp_path, twin_dirs):
    try:  # the alias kept until every import has moved; this half goes with it
        from synfaith.models import tiny
    except ImportError:
        tiny = None
    if tiny is not None:
        assert tiny.build is build_twin and tiny.ARCHS == ARCHS
    again = build_twin("llava", tmp_path / "llava", seed=0)
    assert (again / "model.safetensors").read_bytes() == (twin_dirs["llava"] / "model.safetensors").read_bytes()
