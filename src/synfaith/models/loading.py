"""``load_model``: a checkpoint name or path to the right adapter, offline-safe."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from synfaith.models.base import VLMAdapter
from synfaith.models.processors import read_model_type
from synfaith.models.registry import adapter_for


class ModelNotAvailableError(OSError):
    """The checkpoint is neither local nor cached, and could not be downloaded."""


def resolve_checkpoint(name_or_path: str | os.PathLike, *, allow_download: bool = True) -> Path:
    """A local directory for a checkpoint: the path itself, the Hugging Face cache, or a download.

    Raises:
        ModelNotAvailableError: with instructions for providing local weights. Nothing waits
            on the network when ``HF_HUB_OFFLINE=1`` or ``allow_download=False``.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelNotAvailableError(f"{name!r} is not a checkpoint directory (no such folder) nor a hub name like 'org/model'")

    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 — any failure here means "not cached"; we try the hub next
        pass
    reason = "downloads are disabled (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "downloads are disabled"
    if allow_download and not constants.HF_HUB_OFFLINE:
        try:
            return Path(snapshot_download(name, etag_timeout=5))
        except Exception as error:  # noqa: BLE001 — reported below with instructions
            reason = f"the download failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    raise ModelNotAvailableError(
        f"cannot load {name!r}: it is not a local directory, it is not in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}), and {reason}.\n"
        f"To use local weights: on a machine with network access run "
        f"`huggingface-cli download {name} --local-dir DIR`, copy DIR here and pass its path "
        f"(e.g. load_model('DIR') or --model_args pretrained=DIR); or point HF_HOME at a cache that holds it."
    ) from None


def load_model(
    name_or_path: str | os.PathLike,
    *,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "auto",
    allow_download: bool = True,
    **options,
) -> VLMAdapter:
    """Load a VLM checkpoint as a synfaith adapter, chosen by the checkpoint's ``model_type``.

    Args:
        name_or_path: a local checkpoint directory, or a hub name such as
            ``"llava-hf/llava-1.5-7b-hf"`` (used from the local cache, else downloaded).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (CUDA when available).
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), a torch dtype or its name.
        allow_download: try the hub when the checkpoint is not cached.
        **options: adapter options — ``blur_radius``, ``batch_size``, ``max_new_tokens``,
            ``answer_cue``, ``attn_implementation`` (e.g. ``"eager"`` for attention maps), and
            per architecture ``max_pixels``/``min_pixels`` (Qwen2.5-VL, default max 313600) or
            ``max_tiles`` (InternVL, default 2).

    Example:
        >>> adapter = load_model("llava-hf/llava-1.5-7b-hf", device="cuda")  # doctest: +SKIP
        >>> prepared = adapter.prepare(instance)  # doctest: +SKIP
        >>> game = adapter.game(prepared, adapter.generate_target(prepared))  # doctest: +SKIP
    """
    path = resolve_checkpoint(name_or_path, allow_download=allow_download)
    adapter_class = adapter_for(read_model_type(path))
    adapter = adapter_class.from_pretrained(path, device=device, dtype=dtype, **options)
    adapter.name = str(name_or_path)
    return adapter
