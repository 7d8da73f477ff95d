"""Model adapters: a VLM checkpoint as a synfaith game plus white-box access (DESIGN.md §2, §5).

- :func:`load_model` — name or path → the adapter for its ``model_type``.
- :class:`VLMAdapter` — the contract (``prepare``, ``generate_target``, ``game``, hooks).
- Adapters: :class:`LlavaAdapter` (LLaVA-1.5 and the toy VLM), :class:`Qwen25VLAdapter`,
  :class:`InternVLAdapter`; :func:`register_adapter` adds one.
- :mod:`synfaith.models.tiny` — tiny random-weight twins built offline, for tests.
"""

from synfaith.models.adapters import InternVLAdapter, LlavaAdapter, Qwen25VLAdapter
from synfaith.models.answers import (
    AnswerFormat,
    ChoiceLetter,
    ParsedAnswer,
    RegexAnswer,
    UnparseableAnswerError,
    YesNo,
    answer_format_for,
)
from synfaith.models.base import (
    MULTIPLE_CHOICE_INSTRUCTION,
    Prepared,
    PromptLayoutError,
    Target,
    TokenLayout,
    VLMAdapter,
    VLMGame,
)
from synfaith.models.loading import ModelNotAvailableError, load_model, resolve_checkpoint
from synfaith.models.pixels import PixelViews, blurred_copy
from synfaith.models.registry import ADAPTERS, register_adapter

__all__ = [
    "ADAPTERS",
    "MULTIPLE_CHOICE_INSTRUCTION",
    "AnswerFormat",
    "ChoiceLetter",
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
]
