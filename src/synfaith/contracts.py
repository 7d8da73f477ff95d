"""What flows between the stages, and what each kind of model can do (docs/design.md §1–2).

- :class:`ZeroState` — how a unit is removed: the visual blur (a fraction of the image's
  longer side) and the text mask token. An explicit value, passed to ``prepare`` and recorded
  in every row; never a mutable attribute of an adapter.
- :class:`TokenLayout`, :class:`Prepared`, :class:`Target` — an instance ready for a model, and
  the answer whose probability the game scores.
- :class:`Scores` — what an explainer's ``attribute`` returns (the typed replacement of a tuple).
- :class:`GameModel` — what a black-box endpoint can do: prepare, generate the target, score
  masked variants as a game, map ground truth and pixel maps computed elsewhere onto its units.
- :class:`WhiteBoxModel` — a game model that also gives gradients and attention.
- Capabilities: every model declares ``capabilities`` and every explainer ``requires``, so an
  incompatible (model, explainer) pair is refused before a run starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # the contract itself imports no model code
    import torch

    from synfaith.data.instance import Instance
    from synfaith.games.base import Game
    from synfaith.models.pixels import PixelViews

GAME = "game"  # scores masked coalitions: every model
WHITE_BOX = "white_box"  # gradients through pixels and input embeddings
ATTENTION = "attention"  # the language model's self-attention weights over image and query tokens
IMAGE_TOKENS = "image_tokens"  # the image is a run of tokens in the LM's sequence (not cross-attended)
CAPABILITIES = (GAME, WHITE_BOX, ATTENTION, IMAGE_TOKENS)

# what each capability means, for the one line that refuses an incompatible pair
CAPABILITY_MEANING = {
    GAME: "scores masked coalitions of units",
    WHITE_BOX: "gradients through pixels and input embeddings",
    ATTENTION: "the language model's self-attention weights over image and query tokens",
    IMAGE_TOKENS: "image tokens in the language model's sequence, whose hidden states the explainer reads "
    "(a cross-attention model such as mllama keeps the image outside the sequence)",
}


def needs_phrase(missing) -> str:
    """``"white_box, image_tokens access (image tokens in …)"``: what a refusal says is missing."""
    explained = [f" ({CAPABILITY_MEANING[c]})" for c in missing if c == IMAGE_TOKENS]
    return f"{', '.join(missing)} access{''.join(explained)}"


def missing_capabilities(requires, capabilities) -> list[str]:
    """The required capabilities a model lacks, in a fixed order."""
    return [c for c in CAPABILITIES if c in set(requires) and c not in set(capabilities)] + sorted(
        set(requires) - set(capabilities) - set(CAPABILITIES)
    )


@dataclass(frozen=True)
class ZeroState:
    """The reference a removed unit takes (docs/design.md §2).

    Attributes:
        blur: Gaussian blur radius of the visual zero-state as a fraction of the image's longer
            side (``0.125``: an eighth; the same unit for every image size and every model).
        text: what replaces a masked query token: ``"pad"`` (the model's pad token id).
    """

    blur: float = 0.125
    text: str = "pad"

    def __post_init__(self) -> None:
        if not (isinstance(self.blur, (int, float)) and np.isfinite(self.blur) and self.blur >= 0):
            raise ValueError(f"zero_state.blur must be a fraction ≥ 0 of the image's longer side, got {self.blur!r}")
        if self.text != "pad":
            raise ValueError(f"zero_state.text must be 'pad' (the model's pad token), got {self.text!r}")

    def blur_radius(self, image_size: tuple[int, int]) -> float:
        """The blur radius in pixels of an image of ``(width, height)``."""
        return self.blur * max(image_size)

    def record(self) -> dict[str, Any]:
        """The row columns that record this zero-state."""
        return {"zero_state_blur": float(self.blur), "zero_state_text": self.text}


DEFAULT_ZERO_STATE = ZeroState()


@dataclass(frozen=True)
class TokenLayout:
    """Where things are in the prompt's input ids.

    Attributes:
        input_ids: int64[L], the prompt as the model sees it (image placeholders expanded).
        visual_positions: int64[v], the positions of the image tokens, in input order.
        query_positions: int64[n], the positions of the query tokens (the text units): the
            question and its choices only — never template, instruction or image tokens.
        query_spans: the ``[start, end)`` character span of each query unit in the query text.
    """

    input_ids: torch.Tensor
    visual_positions: torch.Tensor
    query_positions: torch.Tensor
    query_spans: tuple[tuple[int, int], ...]

    @property
    def template_positions(self) -> torch.Tensor:
        """Every position that is neither an image token nor a query token."""
        import torch

        other = torch.ones(self.input_ids.numel(), dtype=torch.bool)
        other[self.visual_positions] = False
        other[self.query_positions] = False
        return torch.nonzero(other).flatten()


@dataclass(frozen=True)
class Prepared:
    """One instance, ready for a model.

    Attributes:
        instance: the source instance.
        prompt: the rendered prompt text (image placeholder not expanded).
        query_text: the question and its choices as they appear in the prompt.
        layout: the token layout.
        pixels: the clean and zero-state pixel tensors and the unit of each element.
        unit_grid: int[rows, cols], the visual units laid out over the image (row-major, as
            the model reads them), for figures and spatial filters.
        token_units: float[v, m], how much of each visual unit every image token covers (the
            identity where tokens are units; InternVL's thumbnail tokens spread over cells).
        image_inputs: extra model inputs that travel with ``pixel_values`` for one variant
            (e.g. Qwen2.5-VL's ``image_grid_thw``).
        image_size: the original image's (width, height).
        zero_state: the zero-state the pixels and the game use.
    """

    instance: Instance
    prompt: str
    query_text: str
    layout: TokenLayout
    pixels: PixelViews
    unit_grid: np.ndarray
    token_units: torch.Tensor
    image_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    image_size: tuple[int, int] = (0, 0)
    zero_state: ZeroState = DEFAULT_ZERO_STATE

    @property
    def n_image_units(self) -> int:
        return self.pixels.n_units

    @property
    def n_text_units(self) -> int:
        return int(self.layout.query_positions.numel())

    def text_unit_strings(self) -> list[str]:
        """The query text of each text unit."""
        return [self.query_text[a:b] for a, b in self.layout.query_spans]


@dataclass(frozen=True)
class Target:
    """The answer whose probability the game scores.

    Attributes:
        response: the generated text (special tokens removed).
        answer: the normalised answer (``"yes"``, ``"B"``, …).
        prefix_ids: generated tokens before the answer (context, kept as generated).
        answer_ids: the answer token(s); the score is their joint probability.
        correct: whether the answer matches the instance's reference answer (None if unknown).
        token_log_probs: ``log p(answer_j | prompt, earlier tokens)`` of each answer token on the
            clean input, teacher-forced as the game scores it; their sum is ``log v(V, T)``
            (filled in for open answers, docs/open-answers.md; empty otherwise).
        correct_by: the rule an open answer matched its reference by: ``"exact"`` or
            ``"contains"`` (None when it did not match, or for yes/no and choice answers).
    """

    response: str
    answer: str
    prefix_ids: torch.Tensor
    answer_ids: torch.Tensor
    correct: bool | None = None
    token_log_probs: tuple[float, ...] = ()
    correct_by: str | None = None


@dataclass(frozen=True)
class Scores:
    """What an explainer's ``attribute`` returns.

    Attributes:
        image: float[m], one score per visual unit (higher = more important).
        text: float[n], one score per query unit.
        raw: extra maps for figures, by name (e.g. a pixel-level map, an interaction matrix).
        model_calls: forward/backward passes (or game evaluations) the explainer made.
    """

    image: Any
    text: Any
    raw: dict[str, Any] = field(default_factory=dict)
    model_calls: int = 0


@runtime_checkable
class GameModel(Protocol):
    """What every model offers — a black-box endpoint included.

    ``capabilities`` holds at least ``"game"``; ``prepare`` applies the given zero-state.
    """

    name: str
    capabilities: frozenset[str]

    def prepare(self, instance: Instance, zero_state: ZeroState = DEFAULT_ZERO_STATE) -> Prepared: ...

    def generate_target(self, prepared: Prepared) -> Target: ...

    def game(self, prepared: Prepared, target: Target, *, batch_size: int | None = None) -> Game: ...

    def ground_truth_units(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]: ...

    def pool_pixel_map(self, prepared: Prepared, heatmap: np.ndarray, *, levels: int = 64) -> np.ndarray:
        """An H×W map over the original image's pixels averaged over each visual unit: float[m].

        Through the same preprocessing geometry as :meth:`ground_truth_units` (see
        :func:`synfaith.models.ground_truth.pool_pixel_map`): a 0/1 box mask pools to exactly
        the ground truth's coverage of those boxes.
        """
        ...


@runtime_checkable
class WhiteBoxModel(GameModel, Protocol):
    """A game model with gradients and attention: what the white-box explainers use."""

    def embedded_inputs(self, prepared: Prepared, target: Target, pixel_values=None, n_variants: int = 1): ...

    def forward_embeddings(self, inputs_embeds, input_ids, prepared: Prepared, **kwargs): ...

    def modified(self, prepared: Prepared, **changes) -> Prepared: ...

    def pixel_extremes(self, prepared: Prepared): ...
