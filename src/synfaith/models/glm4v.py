"""GLM-4.1V (``THUDM/GLM-4.1V-9B-Thinking``, ``model_type`` ``glm4v``).

Token layout: ``[gMASK]<sop><|user|>\\n<|begin_of_image|><|image|>×N<|end_of_image|>{question}``
``<|assistant|>\\n``, then — with thinking off, the default — the answer cue
``<think></think><answer>`` (see below). ``Glm4vImageProcessor`` ``smart_resize``-s the image
to multiples of 28 px; ``image_grid_thw = (1, H/14, W/14)`` patches of 14 px (a still image
fills both frames of the temporal patch of 2); the vision tower's 2×2 ``downsample``
convolution and merger turn each 2×2 block of patches into one of N = (H/28)(W/28) LM tokens.
The pixel rows are in merge-block order: merged token k owns rows 4k..4k+3 of
``pixel_values``, and the tokens run row-major over the (H/28)×(W/28) grid. Visual unit =
merged token k = grid cell (k // (W/28), k % (W/28)), a 28×28 px square of the resized image.
The LM uses multimodal RoPE (``get_rope_index``, same call as Qwen2.5-VL), so these mechanics
are :class:`~synfaith.models.qwen2_5_vl.Qwen25VLAdapter`'s.

**Resolution cap.** The processor's ``size`` bounds count *both* temporal copies of a still
image (``t·H·W`` with t = 2), so a per-image cap of ``max_pixels`` is passed as
``longest_edge = 2·max_pixels``. The default per-image cap is the paper's Qwen2.5-VL one,
313600 px (at most 400 merged tokens, e.g. 560×560), instead of the checkpoint's 4816896.

**The target answer.** GLM-4.1V-Thinking answers as ``<think>…reasoning…</think><answer>…``
``</answer>``. With ``thinking=False`` (default) the prompt ends with ``<think></think><answer>``
— an empty reasoning block, as the model's own format has it — so the first generated tokens
are the answer and the Yes/No (or letter) parser finds it within ``max_new_tokens``; the game
is the joint probability of that answer after that cue. With ``thinking=True`` the prompt ends
at ``<|assistant|>\\n``, the model reasons first (``max_new_tokens`` defaults to 8192, the model
card's budget), the answer is parsed only after the last ``<answer>``, and the reasoning is
teacher-forced as the target's prefix in every game evaluation.
"""

from __future__ import annotations

from typing import ClassVar

from transformers import Glm4vForConditionalGeneration, Glm4vProcessor

from synfaith.models.answers import AnswerFormat, ParsedAnswer, UnparseableAnswerError, answer_format_for
from synfaith.models.processors import image_only_processor
from synfaith.models.qwen2_5_vl import PAPER_MAX_PIXELS, Qwen25VLAdapter

__all__ = ["AfterMarker", "Glm4vAdapter", "ImageOnlyGlm4vProcessor"]

ImageOnlyGlm4vProcessor = image_only_processor(Glm4vProcessor, "Glm4vImageProcessor", module=__name__)
ImageOnlyGlm4vProcessor.__doc__ = """``Glm4vProcessor`` without the video processor (no torchvision).

Images only: calling it with ``videos=`` raises. The image processor is the slow
``Glm4vImageProcessor`` (``size={"shortest_edge": …, "longest_edge": …}`` may be passed in the call).
"""

THINKING_MAX_NEW_TOKENS = 8192


class AfterMarker(AnswerFormat):
    """``inner``'s answer, searched only after the last ``marker`` of the response (spans stay absolute)."""

    def __init__(self, inner: AnswerFormat, marker: str) -> None:
        self.inner = inner
        self.marker = marker
        self.description = f"{inner.description} after {marker!r}"
        self.patterns = []

    def parse(self, response: str) -> ParsedAnswer:
        """The first answer after the last marker; raises :class:`UnparseableAnswerError` without one."""
        at = response.rfind(self.marker)
        if at < 0:
            raise UnparseableAnswerError(response, self.description)
        offset = at + len(self.marker)
        parsed = self.inner.parse(response[offset:])
        return ParsedAnswer(parsed.answer, parsed.start + offset, parsed.end + offset)


class Glm4vAdapter(Qwen25VLAdapter):
    """GLM-4.1V as a game: one unit per merged 2×2 patch token.

    Args:
        max_pixels: per-image resolution cap (313600 by default; None: the checkpoint's).
        min_pixels: per-image lower bound (None: the checkpoint's own).
        thinking: let the model reason before answering (False: answer right after the
            ``<think></think><answer>`` cue).
    """

    model_types = ("glm4v",)
    answer_marker: ClassVar[str] = "<answer>"
    no_thinking_cue: ClassVar[str] = "<think></think><answer>"

    def __init__(
        self, model, processor, *, max_pixels: int | None = PAPER_MAX_PIXELS, min_pixels: int | None = None, thinking: bool = False, **options
    ):
        self.thinking = bool(thinking)
        if self.thinking:
            options.setdefault("max_new_tokens", THINKING_MAX_NEW_TOKENS)
        super().__init__(model, processor, max_pixels=max_pixels, min_pixels=min_pixels, **options)

    @classmethod
    def model_class(cls):
        return Glm4vForConditionalGeneration

    @classmethod
    def processor_class(cls):
        return ImageOnlyGlm4vProcessor

    def image_processor_kwargs(self):
        """``size`` bounds in the processor's units: per-image pixels × the temporal patch size."""
        if self.max_pixels is None and self.min_pixels is None:
            return {}
        image_processor = self.processor.image_processor
        frames = int(image_processor.temporal_patch_size)
        size = dict(image_processor.size)
        if self.max_pixels is not None:
            size["longest_edge"] = frames * int(self.max_pixels)
        if self.min_pixels is not None:
            size["shortest_edge"] = frames * int(self.min_pixels)
        return {"size": size}

    def render_prompt(self, user_text: str) -> str:
        """The real chat template, plus the no-thinking answer cue unless ``thinking``."""
        prompt = super().render_prompt(user_text)
        return prompt if self.thinking else prompt + self.no_thinking_cue

    def generate_target(self, prepared, answer_format=None):
        """Greedy decoding cut to the answer; with ``thinking``, the answer after ``<answer>`` only."""
        if self.thinking:
            answer_format = AfterMarker(answer_format or answer_format_for(prepared.instance), self.answer_marker)
        return super().generate_target(prepared, answer_format)
