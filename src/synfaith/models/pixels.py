"""Visual zero-state by blending precomputed clean and blurred pixel tensors (docs/design.md §2).

The processor runs twice per instance — on the image and on a strongly Gaussian-blurred
copy — and never again: a masked variant is ``where(keep[unit_of_element], clean, blurred)``
over the *preprocessed* tensors (after resize/crop/tiling; normalisation is affine per pixel,
so blending normalised values is exact). ``unit_index`` says which visual unit every element
of the pixel tensor belongs to, in every view the model takes of the image (tiles and the
thumbnail included), so masking a unit changes its region everywhere and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

NO_UNIT = -1


def blurred_copy(image: Image.Image, radius: float | None = None) -> Image.Image:
    """A Gaussian-blurred copy; ``radius=None`` uses an eighth of the longer side (strong)."""
    if radius is None:
        radius = max(image.size) / 8
    if radius < 0:
        raise ValueError(f"blur radius must be ≥ 0, got {radius}")
    return image.filter(ImageFilter.GaussianBlur(radius))


@dataclass(frozen=True)
class PixelViews:
    """The pixel tensors of one instance and the unit each element belongs to.

    Attributes:
        clean: the processor's pixel tensor for the image, in the model's own layout
            (LLaVA [1, 3, H, W]; Qwen2.5-VL [patches, 1176]; InternVL [tiles, 3, H, W]).
        blurred: the same for the blurred copy (identical shape and geometry).
        unit_index: int64, broadcastable to ``clean`` with the same number of dimensions: the
            visual unit of each element, or ``NO_UNIT`` (-1) for elements of no unit.
        n_units: the number of visual units m.
    """

    clean: torch.Tensor
    blurred: torch.Tensor
    unit_index: torch.Tensor
    n_units: int

    def __post_init__(self) -> None:
        if self.clean.shape != self.blurred.shape:
            raise ValueError(f"clean {tuple(self.clean.shape)} and blurred {tuple(self.blurred.shape)} pixels differ in shape")
        if self.unit_index.ndim != self.clean.ndim:
            raise ValueError("unit_index must have as many dimensions as the pixel tensor")
        torch.broadcast_shapes(self.unit_index.shape, self.clean.shape)

    def masked(self, image_keep: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Pixel tensors of U variants, concatenated along dim 0 as the model batches them.

        Args:
            image_keep: bool[U, m]; False puts the unit's elements at the blurred values.

        Returns:
            [U · clean.shape[0], *clean.shape[1:]].
        """
        keep = torch.as_tensor(np.asarray(image_keep, dtype=bool), device=self.clean.device)
        if keep.ndim != 2 or keep.shape[1] != self.n_units:
            raise ValueError(f"image_keep must be bool[U, {self.n_units}], got {tuple(keep.shape)}")
        # column m (index -1) is "no unit": always kept
        keep = torch.cat([keep, torch.ones(keep.shape[0], 1, dtype=torch.bool, device=keep.device)], dim=1)
        selected = keep[:, self.unit_index]  # [U, *unit_index.shape]
        variants = torch.where(selected, self.clean.unsqueeze(0), self.blurred.unsqueeze(0))
        return variants.reshape(-1, *self.clean.shape[1:])

    def _unit_totals(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.unit_index.expand_as(self.clean).reshape(-1)
        values = values.detach().to(torch.float64).cpu().expand_as(self.clean).reshape(-1)
        valid = index >= 0
        sums = torch.zeros(self.n_units, dtype=torch.float64).index_add_(0, index[valid], values[valid])
        counts = torch.bincount(index[valid], minlength=self.n_units).to(torch.float64)
        return sums, counts

    def unit_sums(self, values: torch.Tensor) -> np.ndarray:
        """Sum of a tensor shaped like ``clean`` over each unit's elements, in every view: float[m].

        Pools pixel-level attributions onto visual units (tiles and thumbnail included).
        """
        return self._unit_totals(values.reshape(self.clean.shape))[0].numpy()

    def unchanged_units(self) -> np.ndarray:
        """bool[m]: the units whose every element already equals its zero-state (``clean == blurred``).

        Masking such a unit changes no pixel the model sees — a flat background patch under a
        blur zero-state, or every unit of an image replaced by its zero-state.
        """
        sums, counts = self._unit_totals(self.clean != self.blurred)
        return ((sums == 0) & (counts > 0)).numpy()

    def unit_coverage(self, pixels_inside: torch.Tensor) -> np.ndarray:
        """Mean of a bool tensor shaped like ``clean`` over each unit's elements: float[m]."""
        sums, counts = self._unit_totals(pixels_inside)
        return (sums / counts.clamp(min=1)).numpy()


def cell_coverage(view_units: torch.Tensor, g: int, cell: int, n_units: int) -> torch.Tensor:
    """What share of each token cell's pixels each unit owns: float[g·g, n_units].

    ``view_units`` [S, S] is one view's ``unit_index`` (``NO_UNIT`` for pixels of no unit, which
    are left out); its top-left ``g·cell`` square is cut into g × g cells of ``cell`` px, row-major
    — the tokens of a thumbnail or base view, spread over the units they show (``token_units``).
    """
    cells = view_units[: g * cell, : g * cell].reshape(g, cell, g, cell).permute(0, 2, 1, 3).reshape(g * g, -1)
    counts = torch.zeros(g * g, n_units + 1).scatter_add_(1, cells.long() + 1, torch.ones(cells.shape))[:, 1:]
    return counts / counts.sum(1, keepdim=True).clamp(min=1)

