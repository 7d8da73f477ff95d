"""Model adapters: a VLM checkpoint as a synfaith game plus white-box access (docs/design.md §2, §5).

- :func:`load_model` — ``"toy"``, a name, a path or an endpoint URL → the adapter for it.
- :class:`VLMAdapter` — the contract (``prepare``, ``generate_target``, ``game``, hooks).
- Adapters: :class:`LlavaAdapter` (LLaVA-1.5 and the toy VLM), :class:`Qwen25VLAdapter`,
  :class:`InternVLAdapter`; :func:`register_adapter` adds one.
- The contract types live in :mod:`synfaith.contracts`; offline twins and contract-test kits
  in :mod:`synfaith.testing`; the shipped toy VLM's training in :mod:`synfaith.toy`.
"""

from synfaith.models.internvl import InternVLAdapter
from synfaith.models.llava import LlavaAdapter
from synfaith.models.qwen2_5_vl import Qwen25VLAdapter
from synfaith.models.answers import (
    AnswerFormat,
    ChoiceLetter,
    ParsedAnswer,
    RegexAnswer,
    UnparseableAnswerError,
    YesNo,
    answer_format_for,
)
from synfaith.contracts import Prepared, Target, TokenLayout
from synfaith.models.base import ContextLengthError, VLMAdapter, VLMGame
from synfaith.models.prompts import MULTIPLE_CHOICE_INSTRUCTION, PromptLayoutError
from synfaith.models.loading import ModelNotAvailableError, load_model, resolve_checkpoint, toy_checkpoint
from synfaith.models.pixels import PixelViews, blurred_copy
from synfaith.models.registry import ADAPTERS, register_adapter

__all__ = [
    "ADAPTERS",
    "MULTIPLE_CHOICE_INSTRUCTION",
    "AnswerFormat",
    "ChoiceLetter",
    "ContextLengthError",
    "InternVLAdapter",
    "LlavaAdapter",
    "ModelNotAvailableError",
    "ParsedAnswer",
    "PixelViews",
    "Prepared",
    "PromptLayoutError",
    "Qwen25VLAdapter",
    "RegexAnswer",
    "Target",
    "TokenLayout",
    "UnparseableAnswerError",
    "VLMAdapter",
    "VLMGame",
    "YesNo",
    "answer_format_for",
    "blurred_copy",
    "load_model",
    "register_adapter",
    "resolve_checkpoint",
    "toy_checkpoint",
]
