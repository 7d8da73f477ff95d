"""Checks shared by the merged-patch families (Qwen2-VL, GLM-4.1V): 28 px cells, 2×2 merge blocks.

Each takes an adapter (or its twin's path) and an instance whose image is an exact multiple
of 28 px inside the twin's pixel bounds, so the processor does not resize it.
"""

import numpy as np
import torch
from PIL import Image

from . import _common

PX = 28  # patch 14 × merge 2
ROWS, COLS = 4, 6  # the test image: 168×112 px


def noise_image(width=COLS * PX, height=ROWS * PX, seed=0):
    """A random RGB image (every cell distinct)."""
    return _common.noise_image(width, height, seed)


def check_units_are_the_merged_tokens(adapter, prepared):
    """Units = the image tokens, row-major over the (H/28)×(W/28) grid from ``image_grid_thw``."""
    assert prepared.image_inputs["image_grid_thw"].tolist() == [[1, 2 * ROWS, 2 * COLS]]
    assert tuple(prepared.pixels.clean.shape) == (4 * ROWS * COLS, 3 * 2 * 14 * 14)
    visual = prepared.layout.visual_positions
    assert visual.numel() == ROWS * COLS and prepared.n_image_units == ROWS * COLS
    assert (visual[1:] - visual[:-1]).eq(1).all()  # one contiguous run of image tokens
    assert prepared.unit_grid.tolist() == np.arange(ROWS * COLS).reshape(ROWS, COLS).tolist()
    assert torch.equal(prepared.token_units, torch.eye(ROWS * COLS))
    assert adapter.image_features(prepared.pixels.clean, 1, prepared.image_inputs).shape[1] == ROWS * COLS
    # M-RoPE: image token k sits at (h, w) = (k // cols, k % cols) after the text before it
    position_ids = adapter.language_model_inputs(prepared.layout.input_ids[None], prepared.image_inputs)["position_ids"]
    t, h, w = (position_ids[i, 0, visual] - position_ids[i, 0, visual[0]] for i in range(3))
    k = torch.arange(ROWS * COLS)
    assert t.eq(0).all() and torch.equal(h, k // COLS) and torch.equal(w, k % COLS)


def check_pixel_rows_of_unit_k_are_cell_k(adapter, px=PX):
    """Rows 4k..4k+3 of ``pixel_values`` hold exactly the ``px``×``px`` block of cell k (row-major; 28 px here)."""
    base = np.full((ROWS * px, COLS * px, 3), 128, dtype=np.uint8)
    reference = adapter.pixel_tensor(Image.fromarray(base))
    for k in (0, COLS - 1, COLS + 2, ROWS * COLS - 1):
        r, c = divmod(k, COLS)
        image = base.copy()
        image[r * px : (r + 1) * px, c * px : (c + 1) * px] = (250, 10, 60)
        changed = (adapter.pixel_tensor(Image.fromarray(image)) != reference).any(1)
        assert torch.nonzero(changed).flatten().tolist() == [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3]


def check_masking_unit_k_changes_exactly_its_rows(prepared):
    """Masking unit k puts rows 4k..4k+3 at the zero-state and touches nothing else."""
    pixels = prepared.pixels
    m = prepared.n_image_units
    variants = pixels.masked(~np.eye(m, dtype=bool)).reshape(m, *pixels.clean.shape)
    differs = pixels.clean != pixels.blurred
    for k in range(m):
        rows = torch.zeros(pixels.clean.shape[0], dtype=torch.bool)
        rows[4 * k : 4 * k + 4] = True
        changed = variants[k] != pixels.clean
        assert torch.equal(changed, differs & rows[:, None])
        assert torch.equal(variants[k][rows], pixels.blurred[rows])
        assert changed[rows].any()


NO_TORCHVISION_CODE = (
    "print(type(p).__name__, type(p.image_processor).__name__, p.image_processor.patch_size, p.image_processor.merge_size)\n"
)


def check_processor_loads_without_torchvision(tmp_path_factory, arch, expected_classes):
    """``load_processor`` in a fresh interpreter where any torchvision import fails (``NO_TORCHVISION_CODE`` registered)."""
    assert _common.processor_without_torchvision(tmp_path_factory, arch).split() == [*expected_classes, "14", "2"]
