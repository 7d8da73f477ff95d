"""Maps in original-image pixels onto a model's units, through the model's own preprocessing.

Two things arrive in the pixels of the original image and must land on a model's visual units:
planted ground truth (evidence boxes, :func:`map_ground_truth`) and attribution maps computed
elsewhere (:func:`pool_pixel_map`). Both use one geometry: a binary mask is drawn at the
original resolution, sent through the model's ``pixel_tensor`` (resize, crop, tiles,
thumbnail — whatever the model does to the image) and thresholded halfway between the
preprocessed all-black and all-white images; a unit's *coverage* is the fraction of its
elements, in every view, inside the mask (:meth:`~synfaith.models.pixels.PixelViews.unit_coverage`).
A real-valued map is pooled as the stack of its level sets, each mapped like a mask.
Query words map onto the text units they overlap (:func:`query_units_matching`).
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image, ImageDraw

from synfaith.contracts import Prepared

DEFAULT_LEVELS = 64  # level sets of a real-valued map (a map with ≤ this many distinct values is exact)


class _MaskGeometry:
    """Binary masks at the original resolution → unit coverage, through ``pixel_tensor``."""

    def __init__(self, prepared: Prepared, pixel_tensor) -> None:
        self.prepared, self.pixel_tensor = prepared, pixel_tensor
        self.size = prepared.image_size  # (width, height)
        black = pixel_tensor(Image.new("RGB", self.size, (0, 0, 0)))
        self.white = pixel_tensor(Image.new("RGB", self.size, (255, 255, 255)))
        self.middle = (black + self.white) / 2

    def coverage(self, mask: Image.Image) -> np.ndarray:
        """float[m]: the fraction of each unit's elements inside ``mask`` (an RGB image, white = inside)."""
        return self.prepared.pixels.unit_coverage(self.pixel_tensor(mask) > self.middle)

    def coverage_of_all(self) -> np.ndarray:
        """float[m]: the coverage of the all-white mask (1 wherever a unit's elements come from the image)."""
        return self.prepared.pixels.unit_coverage(self.white > self.middle)


def query_units_matching(prepared: Prepared, word: str) -> list[int]:
    """The text units overlapping a case-insensitive whole-word occurrence of ``word`` in the query.

    "Whole word": no word character right before or after the match (so ``"(B)"`` and
    ``"3,2."`` match too). Units are returned in index order, each once.
    """
    query = prepared.query_text.lower()
    units: set[int] = set()
    for match in re.finditer(rf"(?<!\w){re.escape(word.lower())}(?!\w)", query):
        for unit, (a, b) in enumerate(prepared.layout.query_spans):
            if a < match.end() and b > match.start():
                units.add(unit)
    return sorted(units)


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
        mask = Image.new("RGB", prepared.image_size, (0, 0, 0))
        draw = ImageDraw.Draw(mask)
        for box in truth.boxes:
            draw.rectangle([box.left, box.top, box.right - 1, box.bottom - 1], fill=(255, 255, 255))
        coverage = _MaskGeometry(prepared, pixel_tensor).coverage(mask)
    for word in truth.words:
        text_hits[query_units_matching(prepared, word)] = True
    return coverage, text_hits


def level_sets(heatmap: np.ndarray, levels: int = DEFAULT_LEVELS, iterations: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """``(band int[H, W], value float[k])``: a map cut into k ≤ ``levels`` bands of increasing value.

    A map with at most ``levels`` distinct values keeps them exactly (band j = the j-th
    smallest value). Otherwise the bands are the Lloyd–Max quantiser of the pixel values (1-D
    k-means: the cut points that minimise Σ (v − band value)², a band's value being the mean of
    its pixels), started from cut points half at equal pixel counts and half equally spaced in
    value, ``iterations`` rounds. On 336×336 test maps (uniform, heavy-tailed, sparse, smooth +
    noise) 64 bands kept every 14-px unit mean within 3.4% of the range of the unit means
    (Spearman ≥ 0.996 against the exact means).
    """
    values = np.asarray(heatmap, dtype=np.float64)
    distinct = np.unique(values)
    if distinct.size <= levels:
        edges = distinct[1:]
    else:
        ordered = distinct if distinct.size == values.size else np.sort(values.ravel())
        half = levels // 2
        edges = np.unique(np.concatenate([
            np.quantile(ordered, np.arange(1, half) / half),
            np.linspace(ordered[0], ordered[-1], levels - half + 1)[1:-1],
        ]))
        for _ in range(iterations):
            index = np.searchsorted(edges, ordered, side="right")
            counts = np.bincount(index, minlength=edges.size + 1)
            means = np.bincount(index, weights=ordered, minlength=edges.size + 1)[counts > 0] / counts[counts > 0]
            edges = (means[1:] + means[:-1]) / 2
    _, band = np.unique(np.searchsorted(edges, values, side="right"), return_inverse=True)  # empty bands dropped
    band = band.reshape(values.shape)
    value = np.bincount(band.ravel(), weights=values.ravel()) / np.bincount(band.ravel())
    return band, value


def pool_pixel_map(prepared: Prepared, pixel_tensor, heatmap, *, levels: int = DEFAULT_LEVELS) -> np.ndarray:
    """A real-valued map over the original image's pixels, averaged over each visual unit: float[m].

    The map goes through the same geometry as :func:`map_ground_truth`'s box mask, one level set
    at a time (the layer-cake identity): with bands of values r_0 < … < r_{k−1}
    (:func:`level_sets`),

        pooled_u = r_0 · cov_u(everything) + Σ_{j≥1} (r_j − r_{j−1}) · cov_u(band ≥ j)

    where cov_u(S) is the coverage of unit u by the pixel set S through ``pixel_tensor``. Where
    the model does not resample (the toy VLM, the remote grid) this is exactly the mean of the
    map over each unit's pixels; where it does, each level set is resampled as the ground truth
    is, so a 0/1 mask pools to exactly the coverage :func:`map_ground_truth` gives its boxes.
    Costs one ``pixel_tensor`` call per band beyond the first.

    Raises:
        ValueError: the map is not a finite real array of shape (height, width) of the image.
    """
    width, height = prepared.image_size
    heatmap = np.asarray(heatmap)
    if heatmap.shape != (height, width):
        raise ValueError(f"the pixel map has shape {heatmap.shape}; expected (height, width) = {(height, width)} of the original image")
    if not (heatmap.dtype == bool or np.issubdtype(heatmap.dtype, np.integer) or np.issubdtype(heatmap.dtype, np.floating)):
        raise ValueError(f"the pixel map has dtype {heatmap.dtype}; expected real numbers (float, int or bool)")
    if not np.isfinite(heatmap.astype(np.float64)).all():
        raise ValueError("the pixel map holds NaN or infinite values; expected finite numbers")
    if not (isinstance(levels, int) and levels >= 2):
        raise ValueError(f"levels must be an integer ≥ 2, got {levels!r}")
    band, value = level_sets(heatmap, levels)
    geometry = _MaskGeometry(prepared, pixel_tensor)
    pooled = value[0] * geometry.coverage_of_all()
    for j in range(1, value.size):
        mask = Image.fromarray(np.where(band >= j, 255, 0).astype(np.uint8), "L").convert("RGB")
        pooled = pooled + (value[j] - value[j - 1]) * geometry.coverage(mask)
    return pooled


class UnitMapping:
    """Mixin for models with a ``pixel_tensor(image)``: ground truth and pixel maps onto their units."""

    def ground_truth_units(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """Map an instance's model-agnostic ground truth onto this model's units (see :func:`map_ground_truth`)."""
        return map_ground_truth(prepared, self.pixel_tensor)

    def pool_pixel_map(self, prepared: Prepared, heatmap, *, levels: int = DEFAULT_LEVELS) -> np.ndarray:
        """An H×W map of the original image averaged over each visual unit (see :func:`pool_pixel_map`)."""
        return pool_pixel_map(prepared, self.pixel_tensor, heatmap, levels=levels)
