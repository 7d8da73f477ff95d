"""Planted ground truth (evidence boxes in image pixels, deciding words) onto a model's units."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image, ImageDraw

from synfaith.contracts import Prepared


def map_ground_truth(prepared: Prepared, pixel_tensor) -> tuple[np.ndarray, np.ndarray]:
    """Map an instance's model-agnostic ground truth onto a model's units.

    Args:
        prepared: the prepared instance (its pixel views say which element is which unit).
        pixel_tensor: the model's preprocessing, ``PIL image -> pixel tensor``.

    Returns:
        ``(image_coverage float[m], text_hits bool[n])``: the fraction of each visual unit's
        pixels (in every view) inside an evidence box, computed by sending a box mask through
        the same preprocessing as the image; and which query units overlap a deciding word.
    """
    truth = prepared.instance.ground_truth
    coverage = np.zeros(prepared.n_image_units)
    text_hits = np.zeros(prepared.n_text_units, dtype=bool)
    if truth is None:
        return coverage, text_hits
    if truth.boxes:
        width, height = prepared.image_size
        mask = Image.new("RGB", (width, height), (0, 0, 0))
        draw = ImageDraw.Draw(mask)
        for box in truth.boxes:
            draw.rectangle([box.left, box.top, box.right - 1, box.bottom - 1], fill=(255, 255, 255))
        black = pixel_tensor(Image.new("RGB", (width, height), (0, 0, 0)))
        white = pixel_tensor(Image.new("RGB", (width, height), (255, 255, 255)))
        coverage = prepared.pixels.unit_coverage(pixel_tensor(mask) > (black + white) / 2)
    query = prepared.query_text.lower()
    for word in truth.words:
        for match in re.finditer(rf"\b{re.escape(word.lower())}\b", query):
            for unit, (a, b) in enumerate(prepared.layout.query_spans):
                if a < match.end() and b > match.start():
                    text_hits[unit] = True
    return coverage, text_hits
