"""Mistral Small 3.1 (``mistral3``) on its tiny twin: token layout, units, masking, prefix sharing, caps."""

import sys

import numpy as np
import pytest
import torch

from synfaith.data.instance import Instance
from synfaith.models import load_model
from synfaith.models.mistral3 import DEFAULT_LONGEST_EDGE, ImageOnlyPixtralProcessor, Mistral3Adapter
from synfaith.models.processors import load_processor

from ._common import check_prefix_sharing_agrees, family_fixtures, noise_image, own_chat_template

PX = 28  # patch 14 × merge 2


_one_torch_thread, twin, adapter = family_fixtures("mistral3")


@pytest.fixture(scope="module")
def choice_instance():
    # 150×100 px: not shrunk under the 560 px cap, sides rounded up to 168×112 → 6×4 merged tokens
    return Instance("m3-choice", noise_image(150, 100), "Which shape is on the left?", choices=("circle", "square"))


def test_prompt_layout_rows_breaks_and_end(adapter, choice_instance):
    prepared = adapter.prepare(choice_instance)
    tok = adapter.tokenizer
    ids = prepared.layout.input_ids.tolist()
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[:2] == ["<s>", "[SYSTEM_PROMPT]"] and tokens.count("<s>") == 1
    assert "The current date is 2025-03-17." in prepared.prompt  # pinned, not today's
    assert tokens[-1] == "[/INST]"
    assert tuple(prepared.pixels.clean.shape) == (1, 3, 112, 168)
    assert prepared.image_inputs["image_sizes"].tolist() == [[112, 168]]
    start = tokens.index("[INST]") + 1
    end = tokens.index("[IMG_END]")
    rows = ("".join(tokens[start : end + 1])).replace("[IMG_END]", "[IMG_BREAK]").split("[IMG_BREAK]")[:-1]
    assert rows == ["[IMG]" * 6] * 4  # 4 rows of 6 [IMG], a break after each but the last, then the end
    visual = prepared.layout.visual_positions.tolist()
    assert [tokens[p] for p in visual] == ["[IMG]"] * 24 and len(visual) == 24
    # units = the [IMG] tokens, row-major over the 4×6 grid; breaks and end are no units
    assert prepared.n_image_units == 24 and prepared.unit_grid.shape == (4, 6)
    assert prepared.unit_grid.ravel().tolist() == list(range(24))
    assert torch.equal(prepared.token_units, torch.eye(24))
    assert adapter.image_features(prepared.pixels.clean, 1, prepared.image_inputs).shape[1] == 24
    # text units: the question and its choices only
    query = tok.decode([ids[p] for p in prepared.layout.query_positions])
    assert query.startswith("Which shape is on the left?") and query.rstrip().endswith("square")


def test_ids_match_the_processors_own_tokenized_chat_template(adapter, choice_instance):
    prepared = adapter.prepare(choice_instance)
    out = own_chat_template(adapter, choice_instance, strftime_now=lambda fmt: "2025-03-17", size={"longest_edge": DEFAULT_LONGEST_EDGE})
    assert out["input_ids"][0].tolist() == prepared.layout.input_ids.tolist()  # one <s>, same expansion


def test_merged_token_k_is_the_2x2_patch_block_of_cell_k(adapter):
    merger = adapter.model.model.multi_modal_projector.patch_merger
    rows, cols = 3, 5  # merged cells; 6×10 patches of 14 px
    d = adapter.model.config.vision_config.hidden_size
    patch_ids = torch.arange(rows * 2 * cols * 2, dtype=torch.float32)
    seen = {}
    handle = merger.merging_layer.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    try:
        merger(patch_ids[:, None].repeat(1, d), torch.tensor([[rows * PX, cols * PX]]))
    finally:
        handle.remove()
    blocks = seen["x"].reshape(rows * cols, d, 4)[:, 0]  # [tokens, the 4 patches of each]
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        expected = {(2 * r + i) * 2 * cols + 2 * c + j for i in (0, 1) for j in (0, 1)}
        assert set(blocks[k].long().tolist()) == expected


def test_masking_unit_k_changes_exactly_its_28px_block(adapter, choice_instance):
    prepared = adapter.prepare(choice_instance)
    pixels = prepared.pixels
    m = prepared.n_image_units
    keep = ~np.eye(m, dtype=bool)
    variants = pixels.masked(keep).reshape(m, *pixels.clean.shape)
    differs_somewhere = (pixels.clean != pixels.blurred)[0].any(0)
    for k in range(m):
        r, c = divmod(k, 6)
        block = torch.zeros(112, 168, dtype=torch.bool)
        block[r * PX : (r + 1) * PX, c * PX : (c + 1) * PX] = True
        changed = (variants[k] != pixels.clean)[0].any(0)
        assert torch.equal(changed, block & differs_somewhere)
        assert torch.equal(variants[k][0][:, block], pixels.blurred[0][:, block])


def test_prefix_sharing_on_and_off_agree_on_fsyn_coalitions(twin, choice_instance):
    check_prefix_sharing_agrees(twin, choice_instance)


def test_processor_loads_without_torchvision(twin, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # any import of torchvision now fails
    processor = load_processor(twin)
    assert type(processor) is ImageOnlyPixtralProcessor
    assert type(processor.image_processor).__name__ == "PixtralImageProcessor"  # the slow one, pinned
    assert (processor.patch_size, processor.spatial_merge_size) == (14, 2)
    assert processor.image_processor.size == {"longest_edge": 112}
    processor.save_pretrained(tmp_path)
    assert '"processor_class": "PixtralProcessor"' in (tmp_path / "processor_config.json").read_text()


def test_default_cap_and_its_option(adapter, twin):
    assert isinstance(adapter, Mistral3Adapter)
    assert adapter.longest_edge == DEFAULT_LONGEST_EDGE == 560
    assert adapter.image_processor_kwargs() == {"size": {"longest_edge": 560}}
    wide = Instance("m3-wide", noise_image(1000, 600, seed=1), "Is there a cat?")
    prepared = adapter.prepare(wide)  # shrunk to 560×336: 20×12 merged tokens
    assert tuple(prepared.pixels.clean.shape[-2:]) == (336, 560)
    assert prepared.unit_grid.shape == (12, 20) and prepared.n_image_units == 240
    assert adapter.pixel_tensor(wide.load_image()).shape == prepared.pixels.clean.shape
    small = load_model(twin, longest_edge=112).prepare(wide)
    assert tuple(small.pixels.clean.shape[-2:]) == (84, 112) and small.n_image_units == 12
    for bad in (10, 2000):  # below one token; beyond the vision tower's 1540 px
        with pytest.raises(ValueError, match="longest_edge"):
            load_model(twin, longest_edge=bad)
