"""One generic registry for explainers, model adapters, datasets and metrics, and the plugin hook.

A :class:`Registry` maps names to objects. Built-in entries are *lazy*: a ``"module:attribute"``
string imported on first use, so importing a registry never imports every implementation (and
no implementation module has to import its registry back — no import cycles). Third-party
packages extend synfaith without editing it: a distribution that declares an entry point in the
group ``synfaith.plugins`` names a module; :func:`load_plugins` imports every such module once,
before any registry is first read, and the module registers its explainers, datasets, adapters
or metrics with the ordinary ``register_*`` functions. ``--include_path`` and a config's
``imports:`` list reach the same code through :func:`synfaith.plugins.load_plugins`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

PLUGIN_GROUP = "synfaith.plugins"

T = TypeVar("T")

_plugins_loaded = False
_plugin_errors: list[str] = []


class RegistryError(KeyError, ValueError):
    """An unknown name, or a name registered twice; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it as written
        return str(self.args[0]) if self.args else ""


def load_plugins() -> list[str]:
    """Import every module named by an entry point in the ``synfaith.plugins`` group (once).

    Returns the error lines of plugins that failed to import (they are skipped, never fatal:
    a broken third-party package must not stop a run of built-in explainers).
    """
    global _plugins_loaded
    if _plugins_loaded:
        return list(_plugin_errors)
    _plugins_loaded = True  # set first: a plugin that reads a registry must not recurse here
    from importlib import metadata

    for entry_point in metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry_point.load()
        except Exception as error:  # noqa: BLE001 - reported, not fatal
            _plugin_errors.append(f"plugin {entry_point.name!r} ({entry_point.value}) failed to import: {type(error).__name__}: {error}")
    for line in _plugin_errors:
        print(f"synfaith: warning: {line}", file=sys.stderr)
    return list(_plugin_errors)


class Registry(Mapping[str, T], Generic[T]):
    """Names to objects (classes, loader functions, metric specs), with lazy built-in entries.

    Args:
        kind: what the registry holds, for messages ("explainer", "dataset", …).
        lazy: built-in entries as ``{name: "package.module:attribute"}``.
        validate: called on every object when it is registered or first loaded.
    """

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None, validate: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self._lazy: dict[str, str] = dict(lazy or {})
        self._loaded: dict[str, T] = {}
        self._validate = validate

    # -- registering -------------------------------------------------------------------
    def register(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name``; registering the same object again is a no-op."""
        if not name:
            raise ValueError(f"a {self.kind} needs a non-empty name")
        existing = self._loaded.get(name)
        if existing is not None and existing is not obj:
            raise RegistryError(f"{self.kind} name {name!r} is taken by {_describe(existing)}")
        # a built-in name may only be registered by the built-in object itself (its exact import path),
        # never shadowed by a plugin class that happens to share its class name
        if existing is None and name in self._lazy and self._lazy[name] != f"{getattr(obj, '__module__', '')}:{_qualname(obj)}":
            raise RegistryError(f"{self.kind} name {name!r} is taken by the built-in {self._lazy[name]}")
        if self._validate is not None:
            self._validate(name, obj)
        self._loaded[name] = obj
        return obj

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"module:attribute"``, imported the first time ``name`` is read."""
        if name in self._loaded or name in self._lazy:
            raise RegistryError(f"{self.kind} name {name!r} is already registered")
        self._lazy[name] = target

    def unregister(self, name: str) -> None:
        """Forget a name registered at run time (tests, interactive sessions); built-ins stay."""
        self._loaded.pop(name, None)

    # -- reading -----------------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> T | Any:  # type: ignore[override]
        try:
            return self[name]
        except RegistryError:
            return default

    def __getitem__(self, name: str) -> T:
        load_plugins()
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._lazy:
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        module_name, _, attribute = self._lazy[name].partition(":")
        obj = getattr(importlib.import_module(module_name), attribute)
        if self._validate is not None:
            self._validate(name, obj)
        self._loaded[name] = obj
        return obj

    def names(self) -> list[str]:
        """Every registered name (built-in and plugin), sorted."""
        load_plugins()
        return sorted(set(self._lazy) | set(self._loaded))

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._lazy or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", getattr(type(obj), "__qualname__", ""))


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{_qualname(obj)}"
