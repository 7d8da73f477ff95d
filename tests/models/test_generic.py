"""The generic adapter: a model type with no dedicated adapter, served from its config and processor.

ViP-LLaVA (``vipllava``) has no synfaith adapter; its tiny twin (a CLIP tower with multi-layer
features and a Llama LM) is loaded by ``load_model`` through :class:`GenericAdapter`, which must
pass the contract kit. On the paper's twins, forcing the generic adapter gives the dedicated
adapters' units and values.
"""

import logging

import numpy as np
import pytest
import torch

from synfaith.explainers import get_explainer
from synfaith.models import load_model
from synfaith.models.generic import GenericAdapter, generic_refusal
from synfaith.models.loading import adapter_class_for
from synfaith.models.processors import read_config
from synfaith.testing import check_adapter, check_explainer
from synfaith.testing.twin_recipe import TwinRecipe, write_twin
from synfaith.testing.twins import SPEC, _llava_config, build_processor, build_tokenizer


def _vipllava_config(tok):
    from transformers import VipLlavaConfig

    llava = _llava_config(tok)  # the same tiny CLIP tower and Llama LM
    return VipLlavaConfig(
        architectures=["VipLlavaForConditionalGeneration"],
        vision_config=llava.vision_config.to_dict(),
        text_config=llava.text_config.to_dict(),
        image_token_index=llava.image_token_id,
        vision_feature_layers=[-2, -1],
        image_seq_length=SPEC["llava"]["image_tokens"],
        pad_token_id=llava.pad_token_id,
    )


VIPLLAVA = TwinRecipe(
    arch="vipllava",
    model_class="VipLlavaForConditionalGeneration",
    twin_of="llava-hf/vip-llava-7b-hf",
    tokenizer=lambda: build_tokenizer("llava"),
    config=_vipllava_config,
    processor=lambda tok, spec: build_processor("llava", tok, spec),
)


@pytest.fixture(scope="module")
def vipllava_dir(tmp_path_factory):
    return write_twin(VIPLLAVA, tmp_path_factory.mktemp("vipllava"), seed=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_an_unregistered_image_token_model_loads_through_the_generic_adapter(vipllava_dir):
    assert read_config(vipllava_dir)["model_type"] == "vipllava"
    assert adapter_class_for(vipllava_dir) is GenericAdapter
    adapter = load_model(vipllava_dir)
    assert type(adapter) is GenericAdapter and adapter.image_token_id == read_config(vipllava_dir)["image_token_index"]
    report = check_adapter(adapter)
    assert report.n_image_units == SPEC["llava"]["image_tokens"]  # one unit per CLIP patch: 4 × 4
    assert "white_box_gradients" in report.checks
    check_explainer(get_explainer("multishap", budget=256, max_visual_players=8, max_text_players=4), adapter)


@pytest.mark.parametrize("arch", ["llava", "qwen2_5_vl"])
def test_forced_on_a_known_twin_it_matches_the_dedicated_adapter(twin_dirs, adapters, arch, yes_no_instance):
    dedicated = adapters[arch]
    generic = GenericAdapter.from_pretrained(twin_dirs[arch], answer_cue=dedicated.answer_cue)
    if arch == "qwen2_5_vl":  # the generic adapter passes no resolution cap: give both the same one
        generic.image_processor_kwargs = dedicated.image_processor_kwargs
    a, b = dedicated.prepare(yes_no_instance), generic.prepare(yes_no_instance)
    assert (a.n_image_units, a.n_text_units) == (b.n_image_units, b.n_text_units)
    assert np.array_equal(a.unit_grid, b.unit_grid)
    assert torch.equal(a.pixels.unit_index.expand_as(a.pixels.clean), b.pixels.unit_index.expand_as(b.pixels.clean))
    target = generic.make_target(b, "yes")
    rng = np.random.default_rng(0)
    image_keep = rng.random((6, a.n_image_units)) < 0.5
    text_keep = rng.random((6, a.n_text_units)) < 0.5
    ours = generic.game(b, target).values(image_keep, text_keep)
    theirs = dedicated.game(a, dedicated.make_target(a, "yes")).values(image_keep, text_keep)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_several_views_are_said_once_as_independent_tiles(twin_dirs, caplog, choice_instance):
    generic = GenericAdapter.from_pretrained(twin_dirs["internvl"])
    generic.image_processor_kwargs = lambda: {"crop_to_patches": True, "max_patches": 2}
    with caplog.at_level(logging.WARNING, logger="synfaith.models.generic"):
        prepared = generic.prepare(choice_instance)
        generic.prepare(choice_instance)
    lines = [r.getMessage() for r in caplog.records if "independent tiles" in r.getMessage()]
    assert len(lines) == 1 and "generic adapter" in lines[0]
    assert prepared.n_image_units == prepared.layout.visual_positions.numel()  # thumbnail cells are units of their own


def test_a_model_without_image_tokens_is_refused_with_the_reason():
    assert "no image_token_id or image_token_index" in generic_refusal({"model_type": "mllama"})
    assert "no image-text-to-text model class" in generic_refusal({"model_type": "bert", "image_token_id": 3})
    assert generic_refusal({"model_type": "vipllava", "image_token_index": 32000}) is None
