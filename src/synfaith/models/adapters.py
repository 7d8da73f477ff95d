"""The built-in adapters; importing this module registers them (one line each)."""

from synfaith.models.internvl import InternVLAdapter
from synfaith.models.llava import LlavaAdapter
from synfaith.models.qwen2_5_vl import Qwen25VLAdapter

__all__ = ["InternVLAdapter", "LlavaAdapter", "Qwen25VLAdapter"]
