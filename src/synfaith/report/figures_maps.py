"""Figures of single instances: every explainer's map over the image, and an interaction matrix.

:func:`qualitative_figure` draws, for one instance, the image in colour with its evidence boxes,
then one panel per explainer: its visual scores on the unit grid in a one-hue sequential map
(``Reds``: lightness falls monotonically with the score) over a *greyscale* copy of the image,
so that questions about colour stay readable; the evidence boxes as outlines; the query tokens
beneath as a heat strip in the same map (the question's deciding words outlined); and the
explainer's F_syn under the map. Scores are min–max normalised per map and modality — the
colour bar reads 0 = the lowest unit, 1 = the highest — since explainers' scales differ.

:func:`interaction_figure` draws image-unit × query-token interaction matrices (MultiSHAP's SII)
in a diverging map centred on 0.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.patches import Rectangle

from synfaith.report.figures import plt, text_colour

MAP_COLOURS = "Reds"  # one hue, perceptually ordered (ColorBrewer sequential)
EVIDENCE_COLOUR = "#0091ff"  # outlines: a blue that reads on grey and on red
PANEL_INCHES = 2.5
COLUMNS = 4
STRIP_CHARS = 40  # characters per line of a token strip (monospace) at PANEL_INCHES
MAX_MATRIX_UNITS = 40  # image units shown in an interaction matrix (the largest Σ|Φ| first)


@dataclass(frozen=True)
class InstanceMaps:
    """One instance with every explainer's attribution, ready to draw.

    Attributes:
        title: the heading (instance, model, stratum, Δ, answer).
        question: the question text.
        image: uint8[H, W, 3], the image as the dataset gives it.
        boxes: evidence boxes ``(left, top, right, bottom)`` in image pixels.
        tokens: the query text of each text unit.
        deciding: the question's deciding words (ground truth), lower case.
        maps: explainer → float[rows, cols], visual scores on the unit grid.
        text_scores: explainer → float[n_text_units].
        fsyn: explainer → its F_syn on this instance.
        notes: explainer → extra lines printed under its F_syn (e.g. its unimodal scores).
    """

    title: str
    question: str
    image: np.ndarray
    boxes: tuple[tuple[float, float, float, float], ...]
    tokens: list[str]
    deciding: frozenset[str] = frozenset()
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    text_scores: dict[str, np.ndarray] = field(default_factory=dict)
    fsyn: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InteractionMatrix:
    """An image-unit × query-token interaction matrix to draw.

    Attributes:
        title: the panel's heading.
        matrix: float[n_image_units, n_text_units].
        unit_labels: a label per image unit (its grid cell ``r,c``).
        tokens: the query text of each text unit.
    """

    title: str
    matrix: np.ndarray
    unit_labels: list[str]
    tokens: list[str]


def normalised(values: np.ndarray) -> np.ndarray:
    """Min–max scaling to [0, 1]: (x − min) / (max − min); all zeros when the values are constant."""
    values = np.asarray(values, dtype=float)
    low, high = float(np.min(values)), float(np.max(values))
    return np.zeros_like(values) if high == low else (values - low) / (high - low)


def _shown(token: str) -> str:
    return token.replace("\n", "↵").strip() or "␣"


def _strip_lines(tokens: list[str]) -> list[list[int]]:
    """Token indices per line of a strip, wrapping at :data:`STRIP_CHARS` characters (one of padding per token)."""
    lines: list[list[int]] = [[]]
    used = 0
    for i, token in enumerate(tokens):
        width = len(_shown(token)) + 1
        if lines[-1] and used + width > STRIP_CHARS:
            lines.append([])
            used = 0
        lines[-1].append(i)
        used += width
    return lines


def _is_deciding(token: str, deciding: frozenset[str]) -> bool:
    word = re.sub(r"[^\w]", "", token).lower()
    return bool(word) and word in deciding


def token_strip(ax, tokens: list[str], scores: np.ndarray | None, deciding: frozenset[str] = frozenset()) -> None:
    """The query tokens as a heat strip on ``ax``: each token a cell coloured by its normalised score
    (uncoloured when ``scores`` is None); deciding words outlined in :data:`EVIDENCE_COLOUR`."""
    cmap = plt.get_cmap(MAP_COLOURS)
    weights = normalised(scores) if scores is not None and len(scores) else None
    lines = _strip_lines(tokens)
    height = 1.0 / max(len(lines), 1)
    for row, indices in enumerate(lines):
        x = 0.0
        for i in indices:
            width = (len(_shown(tokens[i])) + 1) / STRIP_CHARS
            face = cmap(weights[i]) if weights is not None else "white"
            edge = EVIDENCE_COLOUR if _is_deciding(tokens[i], deciding) else "#cccccc"
            y = 1.0 - (row + 1) * height
            ax.add_patch(Rectangle((x, y + 0.06 * height), width * 0.97, height * 0.88, facecolor=face, edgecolor=edge,
                                   lw=1.2 if edge == EVIDENCE_COLOUR else 0.4))
            ax.text(x + width * 0.485, y + height / 2, _shown(tokens[i]), ha="center", va="center", fontsize=6.3,
                    family="monospace", color=text_colour(face))
            x += width
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")


def _draw_boxes(ax, boxes) -> None:
    for left, top, right, bottom in boxes:
        ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=EVIDENCE_COLOUR, lw=1.8))


def qualitative_figure(example: InstanceMaps, explainers: list[str]):
    """The image and one map panel per explainer (module docstring), :data:`COLUMNS` panels a row, with a colour bar."""
    image = np.asarray(example.image)
    height, width = image.shape[:2]
    grey = np.asarray(image.astype(float) @ [0.299, 0.587, 0.114])  # ITU-R 601 luma
    panels = 1 + len(explainers)
    columns = min(COLUMNS, panels)
    rows = math.ceil(panels / columns)
    image_inches = PANEL_INCHES * height / width
    strip_inches = 0.16 * len(_strip_lines(example.tokens)) + 0.05
    heights = [image_inches, strip_inches] * rows
    question = "\n".join(textwrap.wrap(example.question, 120))
    fig = plt.figure(figsize=(PANEL_INCHES * columns + 1.0, sum(heights) + 0.55 * rows + 0.6 + 0.15 * question.count("\n")),
                     layout="constrained")
    grid = fig.add_gridspec(2 * rows, columns, height_ratios=heights)
    cmap = plt.get_cmap(MAP_COLOURS)
    image_axes = []
    for k in range(panels):
        r, c = divmod(k, columns)
        ax = fig.add_subplot(grid[2 * r, c])
        strip = fig.add_subplot(grid[2 * r + 1, c])
        image_axes.append(ax)
        if k == 0:
            ax.imshow(image, interpolation="nearest")
            ax.set_title("image (evidence boxes)", fontsize=8)
            ax.set_xlabel("query tokens (deciding words outlined)", fontsize=7)
            token_strip(strip, example.tokens, None, example.deciding)
        else:
            explainer = explainers[k - 1]
            ax.imshow(grey, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            heat = example.maps.get(explainer)
            if heat is not None:
                weights = normalised(heat)
                colours = cmap(weights)
                colours[..., 3] = 0.1 + 0.65 * weights  # the image shows through, most where the score is low
                ax.imshow(colours, extent=(0, width, height, 0), interpolation="nearest")
            ax.set_title(explainer, fontsize=8)
            value = example.fsyn.get(explainer, math.nan)
            label = f"F_syn = {value:.3f}" if np.isfinite(value) else "F_syn —"
            ax.set_xlabel("\n".join([label, example.notes[explainer]]) if example.notes.get(explainer) else label, fontsize=7.5)
            token_strip(strip, example.tokens, example.text_scores.get(explainer), example.deciding)
        _draw_boxes(ax, example.boxes)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
    fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=image_axes, location="right", shrink=0.5, aspect=30,
                 label="score, normalised per map (0 = lowest unit, 1 = highest)")
    fig.suptitle(f"{example.title}\n{question}", fontsize=8.5)
    return fig


def interaction_figure(matrices: list[InteractionMatrix]):
    """One row per matrix: image units (rows, at most :data:`MAX_MATRIX_UNITS`, the largest Σ_t |Φ_ut| first when
    cut) × query tokens (columns), a diverging map centred on 0 and a colour bar each."""
    shown = []
    for item in matrices:
        rows = np.arange(item.matrix.shape[0])
        if len(rows) > MAX_MATRIX_UNITS:
            rows = np.sort(np.argsort(-np.abs(item.matrix).sum(1), kind="stable")[:MAX_MATRIX_UNITS])
        shown.append(rows)
    heights = [0.14 * len(rows) + 1.0 for rows in shown]
    fig, axes = plt.subplots(len(matrices), 1, figsize=(10.0, sum(heights) + 0.3), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": heights})
    for ax, item, rows in zip(axes[:, 0], matrices, shown):
        values = item.matrix[rows]
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -bound, bound), aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(item.tokens)), [_shown(t) for t in item.tokens], rotation=90, fontsize=7, family="monospace")
        ax.set_yticks(range(len(rows)), [item.unit_labels[u] for u in rows], fontsize=6)
        ax.set_ylabel("image unit (row, col)", fontsize=7)
        cut = f"; the {len(rows)} of {item.matrix.shape[0]} units with the largest Σ|Φ|" if len(rows) < item.matrix.shape[0] else ""
        ax.set_title(item.title + cut, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.025, label="Φ (SII per unit pair)")
    return fig
