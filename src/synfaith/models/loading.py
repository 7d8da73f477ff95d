"""``load_model``: a checkpoint name or path to the right adapter, offline-safe."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from synfaith.models.base import VLMAdapter
from synfaith.models.registry import adapter_for_checkpoint


TOY = "toy"


class ModelNotAvailableError(OSError):
    """The checkpoint is neither local nor cached, and could not be downloaded."""


def toy_checkpoint() -> Path:
    """The shipped toy VLM's checkpoint directory (what the name ``"toy"`` loads)."""
    return Path(__file__).resolve().parent.parent / "assets" / "toy-vlm"


def is_endpoint(name_or_path: str | os.PathLike) -> bool:
    """Whether a model path is an ``http(s)://`` OpenAI-compatible endpoint (a black-box model)."""
    return str(name_or_path).startswith(("http://", "https://"))


def adapter_class_for(name_or_path: str | os.PathLike) -> type | None:
    """The adapter class a path would load, found without loading weights or touching the network.

    ``"toy"`` and local checkpoints by their ``model_type``, endpoints as the remote adapter;
    a hub name only when it is already in the local cache, else None.
    """
    if is_endpoint(name_or_path):
        from synfaith.models.remote import RemoteChatAdapter

        return RemoteChatAdapter
    path = toy_checkpoint() if str(name_or_path) == TOY else Path(name_or_path).expanduser()
    if not path.is_dir():
        try:
            path = resolve_checkpoint(name_or_path, allow_download=False)
        except ModelNotAvailableError:
            return None
    try:
        return adapter_for_checkpoint(path)
    except (OSError, ValueError):
        return None


def resolve_checkpoint(name_or_path: str | os.PathLike, *, allow_download: bool = True, hub_timeout: float | None = None) -> Path:
    """A local directory for a checkpoint: the path itself, the Hugging Face cache, or a download.

    Args:
        hub_timeout: seconds the hub has to answer (default ``$SYNFAITH_HUB_TIMEOUT`` or 20;
            see :mod:`synfaith.hub`).

    Raises:
        ModelNotAvailableError: with instructions for providing local weights. Nothing waits
            on the network when ``HF_HUB_OFFLINE=1`` or ``allow_download=False``, and never
            longer than the hub timeout for a first answer.
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
    from synfaith.hub import HubUnreachableError, offline, reachable

    reason = "downloads are disabled (HF_HUB_OFFLINE=1)" if offline() else "downloads are disabled"
    if allow_download and not offline():
        try:
            reachable(name, "model", hub_timeout)  # bounded: repo_info itself has no timeout
            return Path(snapshot_download(name, etag_timeout=min(10.0, hub_timeout or 10.0)))
        except HubUnreachableError as error:
            reason = str(error)
        except Exception as error:  # noqa: BLE001 — reported below with instructions
            reason = f"the download failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    raise ModelNotAvailableError(
        f"cannot load {name!r}: it is not a local directory, it is not in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}), and {reason}.\n"
        f"To use local weights: on a machine with network access run "
        f"`huggingface-cli download {name} --local-dir DIR`, copy DIR here and pass its path "
        f"(load_model('DIR'), --model DIR or --model_args pretrained=DIR); or point HF_HOME at a cache that holds it."
    ) from None


def load_model(
    name_or_path: str | os.PathLike,
    *,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype = "auto",
    allow_download: bool = True,
    **options,
) -> VLMAdapter:
    """Load a VLM as a synfaith model: an adapter chosen by the checkpoint's ``model_type``.

    Args:
        name_or_path: ``"toy"`` (the shipped toy VLM), a local checkpoint directory, a hub name
            such as ``"llava-hf/llava-1.5-7b-hf"`` (used from the local cache, else downloaded),
            or an ``http(s)://`` OpenAI-compatible endpoint (a black-box
            :class:`~synfaith.models.remote.RemoteChatAdapter`; ``device``/``dtype`` do not apply).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (CUDA when available).
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), a torch dtype or its name.
        allow_download: try the hub when the checkpoint is not cached.
        **options: adapter options — ``batch_size``, ``max_new_tokens``,
            ``answer_cue``, ``attn_implementation`` (e.g. ``"eager"`` for attention maps), and
            per architecture ``max_pixels``/``min_pixels`` (Qwen2.5-VL, default max 313600) or
            ``max_tiles`` (InternVL, default 2).

    Example:
        >>> adapter = load_model("llava-hf/llava-1.5-7b-hf", device="cuda")  # doctest: +SKIP
        >>> prepared = adapter.prepare(instance)  # doctest: +SKIP
        >>> game = adapter.game(prepared, adapter.generate_target(prepared))  # doctest: +SKIP
    """
    if is_endpoint(name_or_path):
        from synfaith.models.remote import RemoteChatAdapter

        return RemoteChatAdapter(str(name_or_path), **options)
    if str(name_or_path) == TOY:
        name_or_path = toy_checkpoint()
    path = resolve_checkpoint(name_or_path, allow_download=allow_download)
    adapter_class = adapter_for_checkpoint(path)
    adapter = adapter_class.from_pretrained(path, device=device, dtype=dtype, **options)
    adapter.name = str(name_or_path)
    return adapter


# options that loading consumes before the adapter is built (not constructor parameters)
LOADING_OPTIONS = {"attn_implementation": (str | None, None)}


def adapter_options(adapter_class: type) -> dict[str, tuple]:
    """``{option: (type, default)}`` an adapter accepts: keyword parameters with defaults along
    its class hierarchy (subclasses forward ``**options`` to their bases), plus loading's own."""
    import inspect
    import typing

    fields: dict[str, tuple] = {}
    for klass in adapter_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - unresolvable annotations accept any value
            hints = {}
        for name, parameter in inspect.signature(init).parameters.items():
            if parameter.default is inspect.Parameter.empty or parameter.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            fields.setdefault(name, (hints.get(name, typing.Any), parameter.default))
    if issubclass(adapter_class, VLMAdapter):
        fields.update(LOADING_OPTIONS)
    return fields


def adapter_options_check(adapter_class: type | None, options: dict, what: str) -> None:
    """Raise :class:`~synfaith.options.OptionError` naming any unknown or mistyped adapter option.

    With ``adapter_class`` None (a hub name not cached yet), the options are checked against
    every registered adapter's: an option none of them knows is still refused.
    """
    from pydantic import ConfigDict, ValidationError, create_model

    from synfaith.models.registry import ADAPTERS
    from synfaith.options import OptionError

    if adapter_class is None:
        known = set(LOADING_OPTIONS)
        for name in ADAPTERS.names():
            known |= set(adapter_options(ADAPTERS[name]))
        unknown = sorted(set(options) - known - {"batch_size"})
        if unknown:
            raise OptionError(f"{what}: unknown option {', '.join(map(repr, unknown))}; options of the adapters: {', '.join(sorted(known))}")
        return
    fields = adapter_options(adapter_class)
    model = create_model(f"{adapter_class.__name__}Options", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)
    try:
        model.model_validate(options)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            problems.append(f"unknown option {where!r}" if item["type"] == "extra_forbidden" else f"option {where!r}: {item['msg']} (got {item.get('input')!r})")
        raise OptionError(f"{what} ({adapter_class.__name__}): {'; '.join(problems)}; its options: {', '.join(sorted(fields))}") from None
